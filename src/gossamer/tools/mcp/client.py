"""Talk to an MCP server with the official SDK: list its tools, call one; every failure an answer.

Each list or call opens its own session (connect, handshake, request, close) inside one deadline:
the SDK's sessions live in anyio task groups that must close in the task that opened them, and the
tool loop runs each call in a task of its own. Against a server on the same network the handshake
costs a few milliseconds.

Transport: streamable HTTP, OpenAI's default; a URL ending in `/sse` is an older HTTP+SSE server,
and a streamable attempt that the server refuses (an HTTP or protocol error, not a connection
failure) is tried again over SSE.

Failures raise `McpFailure`, whose `error` is OpenAI's `MCPToolCallError`: `http_error` (the server
answered an HTTP error), `mcp_protocol_error` (unreachable, timed out, a protocol error or a
malformed answer), `mcp_tool_execution_error` (the tool itself reported an error), and whose
message is what the model reads. Header values never appear in either.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from gossamer.tools.mcp.config import McpLimits, McpServer, ToolInfo
from gossamer.tools.mcp.network import BlockedAddress, CheckedBackend, CheckedTransport

logger = logging.getLogger(__name__)

# JSON-RPC codes for failures that have no HTTP status (the SDK's own for the same cases).
CONNECTION_FAILED = -32000
TIMED_OUT = -32001
INTERNAL_ERROR = -32603
MAX_LIST_PAGES = 20  # a server that pages forever is cut off


class McpFailure(Exception):
    def __init__(self, message: str, error: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message  # for the model (and the item's output)
        self.error = error  # OpenAI's MCPToolCallError


def protocol_error(code: int, message: str) -> McpFailure:
    return McpFailure(message, {"type": "mcp_protocol_error", "code": code, "message": message})


@dataclass(frozen=True)
class CallResult:
    output: str  # the text the model reads, cut to the limit


class McpClient:
    def __init__(self, limits: McpLimits | None = None, backend: CheckedBackend | None = None) -> None:
        self.limits = limits or McpLimits()
        self.backend = backend or CheckedBackend(())  # a request's servers: public addresses only

    async def list_tools(self, server: McpServer) -> list[ToolInfo]:
        async def run(client: Any) -> list[ToolInfo]:
            tools, cursor = [], None
            for _ in range(MAX_LIST_PAGES):
                page = await client.list_tools(cursor=cursor)
                tools += [_tool_info(t) for t in page.tools]
                cursor = page.next_cursor
                if cursor is None:
                    break
            return tools

        return await self._run(server, run, "list its tools")

    async def call_tool(self, server: McpServer, name: str, arguments: dict[str, Any]) -> CallResult:
        async def run(client: Any) -> Any:
            return await client.call_tool(name, arguments)

        result = await self._run(server, run, f"run {name}")
        text = result_text(result, self.limits.max_output_bytes)
        if result.is_error:
            content = [block.model_dump(mode="json", exclude_none=True) for block in result.content]
            error = {"type": "mcp_tool_execution_error", "content": content}
            raise McpFailure(f"The tool {name} failed: {text or 'no details given'}", error)
        return CallResult(text)

    async def _run(self, server: McpServer, operation: Any, what: str) -> Any:
        """`operation(client)` in a fresh session, within the time limit; failures as McpFailure."""
        timeout_s = self.limits.timeout_s
        transports = ["sse"] if _is_sse(server) else ["streamable_http", "sse"]
        if server.transport != "auto":
            transports = [server.transport]
        first: McpFailure | None = None
        try:
            with anyio.fail_after(timeout_s):
                for transport in transports:
                    statuses: list[int] = []  # HTTP errors seen: the SDK turns some into protocol errors
                    try:
                        async with self._session(server, transport, statuses) as client:
                            return await operation(client)
                    except Exception as exc:  # anything the SDK or the network raised: described below
                        failure = describe(exc, server, what, statuses[-1] if statuses else None)
                        first = first or failure
                        if not _worth_another_transport(exc):
                            break
                        logger.debug("mcp %s: %s over %s failed; trying SSE", server.label, what, transport)
        except TimeoutError:
            raise protocol_error(
                TIMED_OUT, f"The MCP server {server.label} did not {what} within {timeout_s:g} s."
            ) from None
        assert first is not None
        raise first

    @asynccontextmanager
    async def _session(self, server: McpServer, transport: str, statuses: list[int]) -> AsyncIterator[Any]:
        from mcp import Client
        from mcp.client.sse import sse_client
        from mcp.client.streamable_http import streamable_http_client
        from mcp_types import Implementation

        info = Implementation(name="gossamer", version=_version())
        make_http = self._http_factory(server, statuses)
        if transport == "sse":
            stream = sse_client(
                server.url,
                headers=dict(server.headers),
                timeout=self.limits.timeout_s,
                sse_read_timeout=self.limits.timeout_s,
                httpx_client_factory=make_http,
            )
            async with Client(stream, client_info=info, cache=None, mode="legacy") as client:
                yield client
            return
        async with make_http(headers=dict(server.headers)) as http:
            stream = streamable_http_client(server.url, http_client=http)
            async with Client(stream, client_info=info, cache=None) as client:
                yield client

    def _http_factory(self, server: McpServer, statuses: list[int]) -> Any:
        """The SDK's client factory: no proxies, no redirects, for a request's server (not the
        operator's own) every connection's address checked, and HTTP errors noted in `statuses`."""

        async def note(response: httpx2.Response) -> None:
            if response.status_code >= 400:
                statuses.append(response.status_code)

        def make(headers: dict[str, str] | None = None, timeout: Any = None, auth: Any = None) -> Any:
            return httpx2.AsyncClient(
                event_hooks={"response": [note]},
                headers=headers,
                timeout=timeout or httpx2.Timeout(self.limits.timeout_s),
                auth=auth,
                transport=None if server.trusted else CheckedTransport(self.backend),
                trust_env=False,
                follow_redirects=False,
            )

        return make


def _is_sse(server: McpServer) -> bool:
    return server.transport == "sse" or server.url.split("?", 1)[0].rstrip("/").endswith("/sse")


def _version() -> str:
    from gossamer import __version__

    return __version__


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the task groups' exception groups the SDK raises."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _worth_another_transport(exc: BaseException) -> bool:
    """An SSE-only server refuses streamable HTTP with an HTTP or protocol error; an unreachable or
    forbidden one fails the same way over both."""
    from mcp import MCPError

    leaf = _leaf(exc)
    return isinstance(leaf, MCPError | httpx2.HTTPStatusError)


def describe(exc: BaseException, server: McpServer, what: str, http_status: int | None = None) -> McpFailure:
    """An exception of the SDK or the network as an MCPToolCallError and a sentence for the model.
    `http_status`: the last HTTP error status the server answered, which the SDK's streamable
    transport reports as a bare protocol error."""
    from mcp import MCPError
    from pydantic import ValidationError

    leaf = _leaf(exc)
    where = f"The MCP server {server.label}"
    if isinstance(leaf, McpFailure):
        return leaf
    if isinstance(leaf, TimeoutError):
        return protocol_error(TIMED_OUT, f"{where} did not {what} in time.")
    if isinstance(leaf, httpx2.HTTPStatusError) or (isinstance(leaf, MCPError) and http_status is not None):
        status = leaf.response.status_code if isinstance(leaf, httpx2.HTTPStatusError) else http_status
        message = f"{where} answered HTTP {status} when asked to {what}."
        return McpFailure(message, {"type": "http_error", "code": status, "message": message})
    if isinstance(leaf, BlockedAddress):
        return protocol_error(CONNECTION_FAILED, f"{where} cannot be reached: {leaf}.")
    if isinstance(leaf, httpx2.TransportError | OSError):
        return protocol_error(CONNECTION_FAILED, f"{where} cannot be reached: {_short(leaf)}.")
    if isinstance(leaf, MCPError):
        code = leaf.error.code if getattr(leaf, "error", None) is not None else INTERNAL_ERROR
        return protocol_error(code, f"{where} could not {what}: {_short(leaf)}.")
    if isinstance(leaf, ValidationError | ValueError | json.JSONDecodeError):
        return protocol_error(INTERNAL_ERROR, f"{where} sent a malformed answer when asked to {what}.")
    logger.warning("mcp %s: %s failed: %s: %s", server.label, what, type(leaf).__name__, leaf)
    return protocol_error(INTERNAL_ERROR, f"{where} could not {what}: {type(leaf).__name__}.")


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def _tool_info(tool: Any) -> ToolInfo:
    annotations = tool.annotations.model_dump(mode="json", exclude_none=True) if tool.annotations else None
    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {"type": "object"}
    return ToolInfo(tool.name, schema, tool.description or "", annotations or None)


def result_text(result: Any, max_bytes: int) -> str:
    """What the model reads of a tool's result: its text blocks, a line for each other block (an
    image is not text the model can read), the structured result when there is no text; cut to
    `max_bytes` of UTF-8, saying so."""
    parts: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            size = len(base64.b64decode(block.data, validate=False)) if block.data else 0
            parts.append(f"[{kind}: {block.mime_type}, {size} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource: {block.uri}]")
        elif kind == "resource":
            resource = block.resource
            parts.append(getattr(resource, "text", None) or f"[resource: {resource.uri}]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return truncate("\n".join(parts), max_bytes)


def truncate(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    kept = data[:max_bytes].decode(errors="ignore")  # never half a character
    return f"{kept}\n[The output was cut at {max_bytes} bytes of {len(data)}.]"
