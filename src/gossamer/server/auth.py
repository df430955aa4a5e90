"""Optional API key: every route except health and metrics needs `Authorization: Bearer <key>`.

A pure ASGI middleware (not a per-router dependency) so that routers other packages add (Responses,
Ollama) are covered without their owners doing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from gossamer.server.errors import error_body

OPEN_PATHS = frozenset({"/health", "/metrics", "/"})


def key_matches(presented: str, expected: str) -> bool:
    # Constant time: the comparison must not reveal how many leading characters were right.
    return hmac.compare_digest(presented.encode(), expected.encode())


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
        elif name == b"x-api-key":
            return value.decode("latin-1").strip()
    return None


def tenant_of(headers: list[tuple[bytes, bytes]], api_key: str | None) -> str:
    """Whose data a request may see: one tenant per API key (a digest, never the key), one in all
    when the server takes no key."""
    if not api_key:
        return ""
    key = presented_key(headers) or ""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class APIKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        key = presented_key(scope["headers"])
        if key is not None and key_matches(key, self.api_key):
            await self.app(scope, receive, send)
            return
        message = (
            "Missing API key: send 'Authorization: Bearer <key>'." if key is None else "Incorrect API key."
        )
        body = json.dumps(error_body(message, "invalid_request_error", None, "invalid_api_key")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "http.response.body", "body": body})
