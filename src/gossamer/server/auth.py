"""Optional API keys: every route except health and metrics needs `Authorization: Bearer <key>`.

A pure ASGI middleware (not a per-router dependency) so that routers other packages add (Responses,
Ollama) are covered without their owners doing anything. With several keys each one is a tenant:
what a key stores (responses, replayed reasoning) only that key can read, chain from or delete.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from gossamer.errors import GossamerError
from gossamer.server.errors import error_body

OPEN_PATHS = frozenset({"/health", "/metrics", "/"})
# The chat page's files (server/webui): the page must load before it can ask for a key.
OPEN_PREFIXES = ("/static/",)


def load_api_keys(api_key: str | None, keys_file: str | None) -> list[str]:
    """The keys the server accepts: `api_key` (comma-separated) and the file's lines ('#' comments)."""
    keys = [k.strip() for k in (api_key or "").split(",") if k.strip()]
    if keys_file:
        try:
            lines = Path(keys_file).expanduser().read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise GossamerError(f"cannot read the API keys file {keys_file}: {exc}") from exc
        keys += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return list(dict.fromkeys(keys))


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


def tenant_of(headers: list[tuple[bytes, bytes]], api_keys: list[str]) -> str:
    """Whose data a request may see: one tenant per API key (a digest, never the key), one in all
    when the server takes no key."""
    if not api_keys:
        return ""
    key = presented_key(headers) or ""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class APIKeyMiddleware:
    def __init__(self, app: ASGIApp, api_keys: list[str], *, open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app = app
        self.api_keys = api_keys
        self.open_paths = open_paths

    def _is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(OPEN_PREFIXES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or self._is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = presented_key(scope["headers"])
        # Every key is compared, whichever matches: the time taken says nothing about which one did.
        if key is not None and sum(key_matches(key, k) for k in self.api_keys):
            await self.app(scope, receive, send)
            return
        message = (
            "Missing API key: send 'Authorization: Bearer <key>'." if key is None else "Incorrect API key."
        )
        payload = error_body(message, "invalid_request_error", None, "invalid_api_key")
        if scope["path"].startswith("/api/"):
            payload = {"error": message}  # Ollama's shape on Ollama's routes, as its clients read it
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "http.response.body", "body": body})
