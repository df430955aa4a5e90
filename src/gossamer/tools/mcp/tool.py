"""One MCP server as a tool the server runs: its allowed tools as functions in a harmony namespace.

    ## docs                                      (the developer message, beside `functions`)
    // Tools from the MCP server `docs`.
    namespace docs {
    // Look a topic up.
    type lookup = (_: { topic: string }) => any;
    } // namespace docs

The model calls `<|channel|>commentary to=docs.lookup <|constrain|>json<|message|>{...}<|call|>`;
`run` sends the call to the server and answers with the tool's text, or with a sentence saying what
went wrong (the model reads it and goes on). Tool names that are not harmony names (`a.b`) are
offered under a cleaned name and called by their own. A tool whose schema is beyond the server's
schema limits, or past `max_tools`, is not offered (and logged). Schemas are offered without their
`title`s: SDKs derive one from every name (`topic` -> `// Topic`), lines that only lengthen the
prompt; the `mcp_list_tools` item keeps the schema as the server sent it.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from gossamer.grammar.errors import ConstraintError
from gossamer.harmony.conversation import Conversation, FunctionNamespace, FunctionTool, ToolNamespace
from gossamer.tools.mcp.client import McpClient, McpFailure
from gossamer.tools.mcp.config import McpServer, ToolInfo, function_name
from gossamer.tools.protocol import ToolCall, ToolResult
from gossamer.turn.schema_limits import SchemaLimits, check_schema_sizes

logger = logging.getLogger(__name__)

INVALID_PARAMS = -32602  # JSON-RPC's code for arguments that are not what the method takes


class McpServerTool:
    def __init__(
        self,
        server: McpServer,
        namespace: str,
        tools: list[ToolInfo],
        client: McpClient,
        schema_limits: SchemaLimits | None = None,
    ) -> None:
        self.server = server
        self.name = namespace  # the harmony namespace the model addresses
        self.client = client
        self.tools: dict[str, ToolInfo] = {}  # harmony function name -> the server's tool
        limits = schema_limits or SchemaLimits()
        for tool in tools:
            if not server.offers(tool) or not _fits(tool, limits, server.label):
                continue
            if len(self.tools) >= client.limits.max_tools:
                logger.warning("mcp %s: more than %d tools; the rest are not offered", server.label,
                               client.limits.max_tools)
                break
            name, n = function_name(tool.name), 2
            while name in self.tools:
                name, n = f"{function_name(tool.name)}_{n}", n + 1
            self.tools[name] = tool

    @property
    def label(self) -> str:
        return self.server.label

    def description(self) -> str:
        return self.server.description or f"Tools from the MCP server `{self.server.label}`."

    def namespace(self) -> ToolNamespace:
        return ToolNamespace(self.name, self.description())

    def functions(self) -> FunctionNamespace:
        limit = self.client.limits.max_description_chars
        tools = [
            FunctionTool(name, t.description[:limit], without_titles(t.input_schema))
            for name, t in self.tools.items()
        ]
        return FunctionNamespace(self.name, self.description(), tools)

    def tool_for(self, call: ToolCall) -> ToolInfo | None:
        return self.tools.get(call.function)

    def needs_approval(self, call: ToolCall) -> bool:
        tool = self.tool_for(call)
        return tool is not None and self.server.needs_approval(tool)

    async def run(self, call: ToolCall) -> ToolResult:
        tool = self.tool_for(call)
        details: dict[str, Any] = {"server_label": self.label, "name": call.function, "error": None}
        if tool is None:
            names = ", ".join(f"{self.name}.{name}" for name in self.tools) or "none"
            return _failed(
                f"`{call.recipient}` is not a tool of the MCP server {self.label}. Its tools: {names}.",
                details,
            )
        details["name"] = tool.name
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError as exc:
            arguments, problem = None, f"they are not valid JSON ({exc.msg} at character {exc.pos})"
        else:
            problem = "" if isinstance(arguments, dict) else f"they are a JSON {type(arguments).__name__}"
        if arguments is None or problem:
            return _failed(f"The arguments of `{call.recipient}` must be a JSON object; {problem}.", details)
        started = time.perf_counter()
        try:
            result = await self.client.call_tool(self.server, tool.name, arguments)
        except McpFailure as failure:
            logger.info("mcp %s.%s failed after %.0f ms: %s", self.label, tool.name,
                        (time.perf_counter() - started) * 1000, failure.error.get("type"))
            return ToolResult(failure.message, "failed", {**details, "error": failure.error})
        logger.info("mcp %s.%s: %.0f ms", self.label, tool.name, (time.perf_counter() - started) * 1000)
        return ToolResult(result.output, "completed", details)


# Keywords whose values map names to schemas, and keywords whose values are data, not schemas.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_DATA = ("enum", "const", "default", "examples")


def without_titles(schema: Any) -> Any:
    """`schema` without its `title` keywords (a property named `title` stays)."""
    if isinstance(schema, list):
        return [without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: without_titles(sub) for name, sub in value.items()}
        elif key in _DATA:
            out[key] = value
        else:
            out[key] = without_titles(value)
    return out


def _failed(message: str, details: dict[str, Any]) -> ToolResult:
    error = {"type": "mcp_protocol_error", "code": INVALID_PARAMS, "message": message}
    return ToolResult(message, "failed", {**details, "error": error})


def _fits(tool: ToolInfo, limits: SchemaLimits, label: str) -> bool:
    try:
        conv = Conversation(tools=[FunctionTool(tool.name, parameters=tool.input_schema)])
        check_schema_sizes(conv, limits)
    except ConstraintError as exc:
        logger.warning("mcp %s: tool %s is not offered: %s", label, tool.name, exc)
        return False
    return True
