"""The tools one request may use: their harmony descriptions, dispatch by recipient, citations.

A toolbox is made per request (`ServerTools.toolbox`), so per-conversation state (the browser's
page stack) never leaks between requests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from gossamer.harmony.conversation import Conversation
from gossamer.tools.protocol import ServerTool, ToolCall, ToolResult

logger = logging.getLogger(__name__)


@runtime_checkable
class CitationSource(Protocol):
    """A tool whose output the model cites (`【cursor†L1-L3】`): the browser."""

    def cite(self, cursor: int) -> tuple[str, str] | None:
        """(url, title) of the page at `cursor`, or None when it is not a citable page."""
        ...


class ToolBox:
    def __init__(self, tools: Sequence[ServerTool]) -> None:
        self.tools = {tool.name: tool for tool in tools}

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    def __bool__(self) -> bool:
        return bool(self.tools)

    def offer(self, conv: Conversation) -> None:
        """Describe the tools in `conv`'s system message (only these: as gpt-oss was trained)."""
        conv.builtin_tools = self.names  # type: ignore[assignment]
        conv.tool_namespaces = {name: tool.namespace() for name, tool in self.tools.items()}

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
