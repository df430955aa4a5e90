"""What a web page, or one careless client, must not be able to do to a server on someone's machine.

One pure ASGI middleware, outside everything but the request log:
- Host allow-list (DNS rebinding): a page on evil.example that rebinds its name to 127.0.0.1
  sends `Host: evil.example`. A server bound to loopback answers only loopback names and
  addresses, its bind address and the configured `allowed_hosts`; one bound to every interface
  was exposed on purpose and takes any Host (as Ollama does), unless `allowed_hosts` narrows it.
- JSON only: a cross-site page can POST `text/plain` or a form without a CORS preflight, so a
  request with a body must say `application/json` (415 otherwise), as Ollama and llama.cpp's
  server require.
- Body size: bodies beyond `max_body_bytes` are refused with 413 as soon as they grow past it
  (by Content-Length before reading, or while reading), so no request can fill memory.
Errors come in the shape of the route's API: Ollama's `{"error": "..."}` under /api, OpenAI's
otherwise.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gossamer.server.errors import error_body

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _host_name(header: str) -> str:
    """`Host: [::1]:8000` -> `::1`; `example.com:8000` -> `example.com` (lower case)."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def is_loopback(name: str) -> bool:
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::", "*")


class HostPolicy:
    def __init__(self, bind_host: str, allowed_hosts: list[str]) -> None:
        self.any_host = "*" in allowed_hosts or (_is_wildcard(bind_host) and not allowed_hosts)
        self.allowed = {_host_name(h) for h in allowed_hosts if h != "*"}
        if not _is_wildcard(bind_host):
            self.allowed.add(_host_name(bind_host))

    def accepts(self, header: str | None) -> bool:
        if self.any_host:
            return True
        if not header:
            return False  # HTTP/1.1 requires a Host; every real client sends one
        name = _host_name(header)
        return is_loopback(name) or name in self.allowed


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class RequestGuard:
    def __init__(self, app: ASGIApp, *, host_policy: HostPolicy, max_body_bytes: int) -> None:
        self.app = app
        self.host_policy = host_policy
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.host_policy.accepts(headers.get("host")):
            await _refuse(scope, send, 403, "This server does not answer to that Host name; "
                          "start it with --allowed-hosts NAME to allow it.", "host_not_allowed")
            return
        if scope["method"] not in _METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _refuse(scope, send, 413, self._too_large(), "body_too_large")
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before sending its request
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _refuse(scope, send, 413, self._too_large(), "body_too_large")
                return
        if body.strip() and not _is_json(headers.get("content-type", "")):
            await _refuse(scope, send, 415, "Send the request body as JSON with "
                          "'Content-Type: application/json'.", "unsupported_media_type")
            return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _too_large(self) -> str:
        return (f"The request body is larger than this server accepts ({self.max_body_bytes} bytes; "
                "--max-body-bytes sets the limit).")


def _replay(body: bytes, receive: Receive) -> Receive:
    """The request's body once, then whatever the client sends next (its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(scope: Scope, send: Send, status: int, message: str, code: str) -> None:
    payload: dict[str, Any]
    if scope["path"].startswith("/api/"):
        payload = {"error": message}  # Ollama's shape on Ollama's routes
    else:
        payload = error_body(message, "invalid_request_error", None, code)
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
