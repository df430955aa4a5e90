"""Structured request logs: one line per request with method, path, status, duration and request id.

Pure ASGI, so a streamed response is logged when its last byte is sent, with its real duration.
The line is written just before that last byte goes out, so whoever holds the whole response
can already find its log line (and a request that fails before answering is logged on the way out).
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gossamer.server.metrics import ServerMetrics

logger = logging.getLogger("gossamer.server.requests")


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        status = 500
        num_bytes = 0
        logged = False

        def log_once() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(route=route_path, status=str(status)).inc()
            record = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "bytes": num_bytes,
                "client": (scope.get("client") or ("-",))[0],
            }
            logger.info("%s", json.dumps(record), extra={"gossamer_request": record})

        async def send_logged(message: Message) -> None:
            nonlocal status, num_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                num_bytes += len(message.get("body", b""))
                if not message.get("more_body", False):
                    log_once()
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            log_once()
