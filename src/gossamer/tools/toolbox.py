"""The tools one request may use: their harmony descriptions, dispatch by recipient, citations.

A toolbox is made per request (`ServerTools.toolbox`), so per-conversation state (the browser's
page stack) never leaks between requests. Built-in tools are described in harmony's system
message; tools with functions of their own namespace (MCP servers, `FunctionNamespaceTool`) in the
developer message, beside the request's functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from gossamer.harmony.conversation import Conversation, FunctionNamespace
from gossamer.tools.protocol import ServerTool, ToolCall, ToolResult

logger = logging.getLogger(__name__)


@runtime_checkable
class CitationSource(Protocol):
    """A tool whose output the model cites (`【cursor†L1-L3】`): the browser."""

    def cite(self, cursor: int) -> tuple[str, str] | None:
        """(url, title) of the page at `cursor`, or None when it is not a citable page."""
        ...


@runtime_checkable
class FunctionNamespaceTool(Protocol):
    """A tool whose functions the model reads in a namespace of their own (an MCP server's)."""

    def functions(self) -> FunctionNamespace:
        """Its namespace of functions, for the developer message."""
        ...

    def needs_approval(self, call: ToolCall) -> bool:
        """Whether the user must approve `call` before it runs (OpenAI's `require_approval`)."""
        ...


class ToolBox:
    def __init__(self, tools: Sequence[ServerTool]) -> None:
        self.tools = {tool.name: tool for tool in tools}

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    @property
    def builtin_names(self) -> list[str]:
        return [name for name, tool in self.tools.items() if not isinstance(tool, FunctionNamespaceTool)]

    def __bool__(self) -> bool:
        return bool(self.tools)

    def offer(self, conv: Conversation) -> None:
        """Describe the built-in tools in `conv`'s system message (only these: as gpt-oss was trained),
        and the namespaces of functions in its developer message."""
        builtin = self.builtin_names
        conv.builtin_tools = builtin  # type: ignore[assignment]
        conv.tool_namespaces = {name: self.tools[name].namespace() for name in builtin}
        conv.function_namespaces = [
            tool.functions() for tool in self.tools.values() if isinstance(tool, FunctionNamespaceTool)
        ]

    def needs_approval(self, call: ToolCall) -> bool:
        tool = self.tools.get(call.namespace)
        return isinstance(tool, FunctionNamespaceTool) and tool.needs_approval(call)

    async def run(self, call: ToolCall) -> ToolResult:
        tool = self.tools.get(call.namespace)
        if tool is None:
            names = ", ".join(self.tools) or "none"
            return ToolResult.failure(f"Unknown tool `{call.recipient}`. Available: {names}.")
        try:
            return await tool.run(call)
        except Exception as exc:  # a tool's own bug: the model and the log hear of it, the answer goes on
            logger.exception("tool %s failed", call.recipient)
            return ToolResult.failure(f"The tool `{call.recipient}` failed: {type(exc).__name__}: {exc}")

    def cite(self, cursor: int) -> tuple[str, str] | None:
        for tool in self.tools.values():
            if isinstance(tool, CitationSource) and (found := tool.cite(cursor)) is not None:
                return found
        return None
