"""The server's MCP side: the client every call goes through, and the operator's own servers.

`gossamer serve --mcp docs=http://127.0.0.1:9000/mcp` (repeatable; `GOSSAMER_MCP=a=URL,b=URL`)
offers every tool of `docs` to every request on every API, run server-side without approval.
Headers come from the environment, never from the command line (where `ps` would show them):
`GOSSAMER_MCP_HEADERS_DOCS` holds `Name: value` lines or a JSON object, and
`GOSSAMER_MCP_TOKEN_DOCS` a bearer token (`Authorization: Bearer ...`); the server's name is
upper-cased with anything but letters and digits as `_`.

A configured server's tool list is fetched when a request first needs it and kept for
`--mcp-list-ttl-s`; a server that cannot be listed offers nothing, is logged, and is tried again
after `RETRY_S`, so a server that is down costs each request nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gossamer.errors import GossamerError
from gossamer.tools.browser.fetch import parse_networks
from gossamer.tools.mcp.client import McpClient, McpFailure
from gossamer.tools.mcp.config import NEVER, McpLimits, McpServer, ToolInfo, namespace_for
from gossamer.tools.mcp.network import CheckedBackend
from gossamer.tools.mcp.tool import McpServerTool
from gossamer.turn.schema_limits import SchemaLimits

logger = logging.getLogger(__name__)

RETRY_S = 30.0  # after a failed listing, the next request does not wait on that server again before this


class McpConfigError(GossamerError):
    pass


@dataclass
class _Listing:
    tools: list[ToolInfo] = field(default_factory=list)
    listed_at: float | None = None  # monotonic; None: never listed
    failed_at: float | None = None
    task: asyncio.Task | None = None


class McpRegistry:
    def __init__(
        self,
        servers: Sequence[McpServer] = (),
        *,
        limits: McpLimits | None = None,
        allowed_networks: Sequence[Any] = (),
        list_ttl_s: float = 300.0,
        schema_limits: SchemaLimits | None = None,
    ) -> None:
        self.client = McpClient(limits, CheckedBackend(allowed_networks))
        self.servers = list(servers)
        self.list_ttl_s = list_ttl_s
        self.schema_limits = schema_limits or SchemaLimits()
        self._listings = {server.label: _Listing() for server in self.servers}

    @classmethod
    def from_settings(cls, settings: Any, env: Mapping[str, str]) -> McpRegistry:  # ServerSettings
        try:
            networks = parse_networks(settings.mcp_allow_network)
        except ValueError as exc:
            raise McpConfigError(f"--mcp-allow-network: {exc}") from None
        limits = McpLimits(timeout_s=settings.mcp_timeout_s, max_output_bytes=settings.mcp_max_output_bytes)
        return cls(
            parse_servers(settings.mcp, env),
            limits=limits,
            allowed_networks=networks,
            list_ttl_s=settings.mcp_list_ttl_s,
            schema_limits=SchemaLimits(settings.max_schema_depth, settings.max_schema_nodes),
        )

    def tool(self, server: McpServer, namespace: str, tools: list[ToolInfo]) -> McpServerTool:
        return McpServerTool(server, namespace, tools, self.client, self.schema_limits)

    async def refresh(self) -> None:
        """List the configured servers whose list is missing or old (at once, each within its timeout)."""
        now = time.monotonic()
        waits = []
        for server in self.servers:
            listing = self._listings[server.label]
            fresh = listing.listed_at is not None and now - listing.listed_at < self.list_ttl_s
            resting = listing.failed_at is not None and now - listing.failed_at < RETRY_S
            if fresh or resting:
                continue
            if listing.task is None:  # one listing at a time per server, whoever asks
                listing.task = asyncio.ensure_future(self._list(server, listing))
            waits.append(listing.task)
        if waits:
            await asyncio.gather(*(asyncio.shield(task) for task in waits))

    async def _list(self, server: McpServer, listing: _Listing) -> None:
        try:
            listing.tools = await self.client.list_tools(server)
            listing.listed_at, listing.failed_at = time.monotonic(), None
            logger.info("mcp %s: %d tools listed", server.label, len(listing.tools))
        except McpFailure as failure:
            # A server that answered before keeps its last list until it answers again.
            listing.failed_at = time.monotonic()
            logger.warning("mcp %s: listing its tools failed: %s", server.label, failure.message)
        finally:
            listing.task = None

    def configured_tools(self, taken: set[str]) -> list[McpServerTool]:
        """The configured servers' tools as listed last (none for a server never listed)."""
        return [
            self.tool(server, namespace_for(server.label, taken), self._listings[server.label].tools)
            for server in self.servers
            if self._listings[server.label].tools
        ]


def parse_servers(specs: Sequence[str], env: Mapping[str, str]) -> list[McpServer]:
    """`NAME=URL` specs (--mcp) as trusted servers, with their headers from the environment."""
    servers: list[McpServer] = []
    for spec in specs:
        label, sep, url = spec.partition("=")
        label, url = label.strip(), url.strip()
        if not sep or not label or not url:
            raise McpConfigError(f"--mcp {spec!r}: expected NAME=URL, e.g. docs=http://127.0.0.1:9000/mcp")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise McpConfigError(f"--mcp {label}: {url!r} is not an http(s) URL")
        if any(s.label == label for s in servers):
            raise McpConfigError(f"--mcp {label}: the name is given twice")
        headers = _env_headers(label, env)
        servers.append(McpServer(label, url, headers=headers, approval=NEVER, trusted=True))
    return servers


def env_key(label: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", label.upper())


def _env_headers(label: str, env: Mapping[str, str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    raw = env.get(f"GOSSAMER_MCP_HEADERS_{env_key(label)}", "").strip()
    if raw.startswith("{"):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            # The value is a secret: the message names the variable, never its content.
            raise McpConfigError(
                f"GOSSAMER_MCP_HEADERS_{env_key(label)} is not a JSON object of strings"
            ) from None
        headers.update(parsed)
    else:
        for line in raw.splitlines():
            name, sep, value = line.partition(":")
            if line.strip() and (not sep or not name.strip()):
                raise McpConfigError(
                    f"GOSSAMER_MCP_HEADERS_{env_key(label)}: each line must be 'Name: value'"
                )
            if sep:
                headers[name.strip()] = value.strip()
    token = env.get(f"GOSSAMER_MCP_TOKEN_{env_key(label)}", "").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers
