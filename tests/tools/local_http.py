"""Small HTTP servers on 127.0.0.1 for the browser tests (pages, redirects, fake search APIs)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

# path -> (status, headers, body) or a callable(handler) that answers itself
Route = tuple[int, dict[str, str], bytes] | Callable[[http.server.BaseHTTPRequestHandler], None]


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[tuple[str, list[dict]]]:
    """Serve `routes` on 127.0.0.1; yields (base URL, the requests received)."""
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            received.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            if callable(route):
                route(self)
                return
            status, headers, payload = route
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def json_route(value: object) -> Route:
    return 200, {"content-type": "application/json"}, json.dumps(value).encode()


class LoopbackOnlyTransport(httpx.AsyncBaseTransport):
    """Records every connection a client asks for and refuses all but loopback ones: whatever the
    code under test decides, no packet leaves this machine."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.refused: list[str] = []
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.attempts.append(host)
        if host not in ("127.0.0.1", "::1", "localhost"):
            self.refused.append(host)
            raise httpx.ConnectError(f"the test transport refuses {host}: not loopback", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
