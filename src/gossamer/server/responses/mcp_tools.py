"""Responses' `mcp` tools: the servers a response may use, and what runs before its first turn.

    {"type": "mcp", "server_label": "docs", "server_url": "https://...", "headers": {...},
     "allowed_tools": [...] | {"tool_names": [...], "read_only": true},
     "require_approval": "always" | "never" | {"always": {...}, "never": {...}}}

Before the model's first turn (`McpTurn.prelude`): each server whose tools are not yet in the
conversation (an `mcp_list_tools` item from an earlier response: OpenAI's cache, per server and
conversation) is listed, one `mcp_list_tools` item each; and each call the user approved in this
request (`mcp_approval_response`, approve: true) runs, one `mcp_call` item each. Then the servers'
allowed tools join the toolbox as harmony namespaces, beside the server's own `--mcp` servers
(whose calls are `mcp_call` items too, with their `--mcp` name as label).

`headers` and `authorization` are used for the connections only: the response's echo of the
tool drops them, so they are in no stored response, item or log.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gossamer.server.responses import mcp_items
from gossamer.server.responses.errors import bad_request
from gossamer.server.responses.items import Item
from gossamer.tools.mcp.client import McpFailure
from gossamer.tools.mcp.config import ApprovalPolicy, McpServer, ToolFilter, ToolInfo, namespace_for
from gossamer.tools.mcp.registry import McpRegistry
from gossamer.tools.mcp.tool import McpServerTool
from gossamer.tools.protocol import ToolCall

logger = logging.getLogger(__name__)

SECRET_FIELDS = ("headers", "authorization")


def echo(tool: dict[str, Any]) -> dict[str, Any]:
    """An `mcp` tool as the response shows (and the store keeps) it: no secrets, no URL userinfo."""
    shown = {k: v for k, v in tool.items() if k not in SECRET_FIELDS}
    if isinstance(shown.get("server_url"), str):
        parts = urlsplit(shown["server_url"])
        if parts.username or parts.password:
            netloc = parts.hostname or ""
            if parts.port:
                netloc += f":{parts.port}"
            shown["server_url"] = urlunsplit(parts._replace(netloc=netloc))
    return shown


def request_servers(raw_tools: list[dict[str, Any]] | None) -> list[McpServer]:
    """The request's `mcp` tools as servers; a 400 naming the field for anything malformed."""
    servers: list[McpServer] = []
    for index, tool in enumerate(raw_tools or []):
        if tool.get("type") != "mcp":
            continue
        servers.append(_server(tool, f"tools[{index}]"))
        if [s.label for s in servers].count(servers[-1].label) > 1:
            raise bad_request(
                f"tools[{index}].server_label {servers[-1].label!r} is used by another mcp tool.",
                param=f"tools[{index}].server_label",
            )
    return servers


def _server(tool: dict[str, Any], param: str) -> McpServer:
    label = tool.get("server_label")
    if not isinstance(label, str) or not label.strip():
        raise bad_request(f"{param}.server_label is required.", param=f"{param}.server_label")
    if tool.get("connector_id") is not None or tool.get("tunnel_id") is not None:
        raise bad_request(
            f"{param}: OpenAI's connectors and tunnels are not available here; give the server's server_url.",
            param=f"{param}.connector_id",
            code="unsupported_tool_type",
        )
    url = tool.get("server_url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request(f"{param}.server_url must be an http(s) URL.", param=f"{param}.server_url")
    headers = tool.get("headers") or {}
    strings = isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())
    if not strings:
        raise bad_request(f"{param}.headers must be an object of strings.", param=f"{param}.headers")
    headers = dict(headers)
    if isinstance(tool.get("authorization"), str) and tool["authorization"]:
        headers["Authorization"] = f"Bearer {tool['authorization']}"
    description = tool.get("server_description")
    return McpServer(
        label=label,
        url=url,
        headers=headers,
        allowed=_filter(tool.get("allowed_tools"), f"{param}.allowed_tools", allow_list=True),
        approval=_approval(tool.get("require_approval"), f"{param}.require_approval"),
        description=description if isinstance(description, str) else "",
    )


def _filter(raw: Any, param: str, *, allow_list: bool = False) -> ToolFilter | None:
    if raw is None:
        return None
    if allow_list and isinstance(raw, list):
        if not all(isinstance(name, str) for name in raw):
            raise bad_request(f"{param} must list tool names.", param=param)
        return ToolFilter(frozenset(raw))
    if not isinstance(raw, dict) or set(raw) - {"tool_names", "read_only"}:
        message = f"{param} must be a filter: {{\"tool_names\": [...], \"read_only\": ...}}."
        raise bad_request(message, param=param)
    names, read_only = raw.get("tool_names"), raw.get("read_only")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise bad_request(f"{param}.tool_names must list tool names.", param=f"{param}.tool_names")
    if read_only is not None and not isinstance(read_only, bool):
        raise bad_request(f"{param}.read_only must be true or false.", param=f"{param}.read_only")
    return ToolFilter(frozenset(names) if names is not None else None, read_only)


def _approval(raw: Any, param: str) -> ApprovalPolicy:
    if raw is None or raw == "always":
        return ApprovalPolicy("always")
    if raw == "never":
        return ApprovalPolicy("never")
    if isinstance(raw, dict) and not set(raw) - {"always", "never"}:
        always = _filter(raw.get("always"), f"{param}.always")
        return ApprovalPolicy("always", always, _filter(raw.get("never"), f"{param}.never"))
    raise bad_request(
        f"{param} must be 'always', 'never' or {{\"always\": filter, \"never\": filter}}.", param=param
    )


@dataclass
class _Source:
    """One server of the response: a request's (listed from history or at the start) or the operator's."""

    server: McpServer
    namespace: str
    tools: list[ToolInfo] | None  # None: not in the conversation yet, listed by the prelude


@dataclass
class _Approved:
    request: Item  # the mcp_approval_request
    response: Item  # the user's mcp_approval_response, approve: true


class McpTurn:
    """The MCP side of one response: its servers, their tools, the calls approved to run first."""

    def __init__(self, registry: McpRegistry, sources: list[_Source], approved: list[_Approved]) -> None:
        self.registry = registry
        self.sources = sources
        self.approved = approved
        self.tools: list[McpServerTool] = []  # after the prelude

    @classmethod
    def plan(
        cls, state: Any, raw_tools: list[dict[str, Any]] | None, history: list[Item], input_items: list[Item]
    ) -> McpTurn | None:
        """None when the response uses no MCP server (none in its tools, none configured)."""
        servers = request_servers(raw_tools)
        if not servers and not state.settings.mcp:
            return None
        taken = {"browser", "python"}
        listed = {
            item["server_label"]: item["tools"]
            for item in history
            if item["type"] == "mcp_list_tools" and not item.get("error")
        }
        sources = []
        for server in servers:
            cached = listed.get(server.label)
            tools = [t for raw in cached if (t := ToolInfo.from_item(raw))] if cached is not None else None
            sources.append(_Source(server, namespace_for(server.label, taken), tools))
        return cls(state.mcp, sources, _approved(history, input_items))

    async def prelude(self) -> list[Item]:
        """List what is not listed yet, run what was approved; their items, in that order."""
        items: list[Item] = []
        unlisted = [source for source in self.sources if source.tools is None]
        listings = await asyncio.gather(
            *(self._list(source) for source in unlisted), self.registry.refresh()
        )
        items += [item for item in listings[: len(unlisted)] if item is not None]
        taken = {"browser", "python", *(source.namespace for source in self.sources)}
        self.tools = [
            self.registry.tool(source.server, source.namespace, source.tools)
            for source in self.sources
            if source.tools
        ]
        self.tools += self.registry.configured_tools(taken)
        for approval in self.approved:
            items.append(await self._run_approved(approval))
        return items

    async def _list(self, source: _Source) -> Item:
        try:
            source.tools = await self.registry.client.list_tools(source.server)
        except McpFailure as failure:
            logger.warning("mcp %s: listing its tools failed: %s", source.server.label, failure.message)
            return mcp_items.list_tools_item(source.server.label, None, failure.message)
        return mcp_items.list_tools_item(source.server.label, source.tools)

    async def _run_approved(self, approval: _Approved) -> Item:
        request = approval.request
        call = mcp_items.harmony_call(request)
        item = mcp_items.call_item(
            request["server_label"],
            request["name"],
            request.get("arguments") or "",
            call_id=call.call_id,
            recipient=call.name,
            approval_request_id=request["id"],
        )
        tool = next((t for t in self.tools if t.label == request["server_label"]), None)
        functions = tool.tools.items() if tool is not None else ()
        function = next((f for f, info in functions if info.name == request["name"]), None)
        if tool is None or function is None:
            message = (
                f"The tool {request['name']} of the MCP server {request['server_label']} is not among this "
                "response's tools; the approved call did not run."
            )
            error = {"type": "mcp_protocol_error", "code": -32602, "message": message}
            mcp_items.finish_call(item, message, error)
            return item
        result = await tool.run(ToolCall(call.call_id, f"{tool.name}.{function}", item["arguments"]))
        mcp_items.finish_call(item, result.output, result.details.get("error"))
        return item


def _approved(history: list[Item], input_items: list[Item]) -> list[_Approved]:
    """This request's approvals of calls that have not run yet (a call runs once, however often the
    client sends its approval)."""
    requests = {item["id"]: item for item in history if item["type"] == "mcp_approval_request"}
    ran = {item.get("approval_request_id") for item in history if item["type"] == "mcp_call"}
    approved: list[_Approved] = []
    for item in input_items:
        if item["type"] != "mcp_approval_response" or not item["approve"]:
            continue
        request_id = item["approval_request_id"]
        if request_id in ran or any(a.request["id"] == request_id for a in approved):
            continue
        request = requests.get(request_id)
        if request is None:
            raise bad_request(
                f"No mcp_approval_request with id '{request_id}' is in this conversation.",
                param="input",
                code="mcp_approval_request_not_found",
            )
        approved.append(_Approved(request, item))
    return approved
