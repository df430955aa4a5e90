"""A real MCP server for the tests, built with the MCP SDK, on 127.0.0.1 in a thread.

Two tools: `slow_lookup(topic)` answers after `delay_s` (a slow tool: it outlasts a short
timeout, and answers within a normal one) and `explode(reason)` always fails with a tool error.
It serves streamable HTTP at /mcp and the older HTTP+SSE transport at /sse (a second port), and
records the Authorization header of every request it gets.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field

import uvicorn

from tests.server.conftest import free_port

FACT = "42 is the answer"


@dataclass
class McpTestServer:
    delay_s: float = 0.05
    authorizations: list[str] = field(default_factory=list)  # Authorization headers received
    calls: list[tuple[str, dict]] = field(default_factory=list)
    _servers: list[uvicorn.Server] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['mcp']}/mcp"

    @property
    def sse_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sse']}/sse"

    def start(self) -> McpTestServer:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError

        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        server = MCPServer("gossamer-test", log_level="WARNING")
        root.handlers[:], root.level = handlers, level  # the SDK installs a rich handler on the root

        @server.tool()
        async def slow_lookup(topic: str) -> str:
            """Look a topic up in the test encyclopedia (slowly)."""
            self.calls.append(("slow_lookup", {"topic": topic}))
            await asyncio.sleep(self.delay_s)
            return f"{topic}: {FACT}"

        @server.tool()
        def explode(reason: str) -> str:
            """A tool that always fails."""
            self.calls.append(("explode", {"reason": reason}))
            raise ToolError(f"explode failed on purpose ({reason})")

        self._serve("mcp", self._recording(server.streamable_http_app()))
        self._serve("sse", self._recording(server.sse_app()))
        return self

    def _recording(self, app):
        async def wrapped(scope, receive, send):
            if scope["type"] == "http":
                for name, value in scope["headers"]:
                    if name == b"authorization":
                        self.authorizations.append(value.decode())
            await app(scope, receive, send)

        return wrapped

    def serve(self, name: str, app) -> str:
        """Serve another ASGI app beside the MCP server (a broken one, say); its base URL."""
        self._serve(name, app)
        return f"http://127.0.0.1:{self.ports[name]}"

    def _serve(self, name: str, app) -> None:
        port = free_port()
        # A slow call still sleeping at the end holds the shutdown for at most a second.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True, name=f"mcp-{name}")
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the MCP test server did not start")
            time.sleep(0.02)
        self._servers.append(server)
        self.ports[name] = port

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
