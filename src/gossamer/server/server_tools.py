"""The server's tools seen from Chat Completions and Ollama: every turn of a server that runs them
gets them (clients need no code to gain browsing), unless the request turns tools off. They are
the built-in ones (`--tools`) and the tools of the operator's MCP servers (`--mcp`, docs/mcp.md).

The loop runs server-side (gossamer/tools/loop.py): the client sees the final answer, its
reasoning, and each call the server made in the `server_tool_calls` extension field
(docs/builtin-tools.md). The loop runs one sequence: a request for n > 1 choices runs no tools.
"""

from __future__ import annotations

from typing import Any

from gossamer.harmony.conversation import Conversation
from gossamer.tools.loop import ToolLoopTurn
from gossamer.tools.toolbox import ToolBox
from gossamer.turn.pipeline import Turn


async def request_toolbox(state: Any, *, n: int = 1, tool_choice: Any = "auto") -> ToolBox | None:
    """Fresh tools for one request, or None when it runs none; the MCP servers' lists made current."""
    if n != 1 or tool_choice == "none":
        return None
    if state.settings.mcp:
        await state.mcp.refresh()
    return current_toolbox(state, n=n, tool_choice=tool_choice)


def current_toolbox(state: Any, *, n: int = 1, tool_choice: Any = "auto") -> ToolBox | None:
    """`request_toolbox` without waiting for any MCP server: with the tool lists as last fetched."""
    if n != 1 or tool_choice == "none":
        return None
    builtin = state.tools.toolbox() if state.tools is not None else None
    tools = list(builtin.tools.values()) if builtin is not None else []
    if state.settings.mcp:
        tools += state.mcp.configured_tools({tool.name for tool in tools})
    return ToolBox(tools) if tools else None


def offer(conv: Conversation, toolbox: ToolBox | None) -> Conversation:
    if toolbox is not None:
        toolbox.offer(conv)
    return conv


def with_loop(state: Any, toolbox: ToolBox | None, turn: Turn) -> Turn | ToolLoopTurn:
    if toolbox is None:
        return turn
    return ToolLoopTurn(turn, toolbox, max_calls=max_tool_calls(state))


def max_tool_calls(state: Any) -> int:
    return state.tools.max_calls if state.tools is not None else state.settings.max_tool_calls


def chat_annotation(annotation: dict[str, Any]) -> dict[str, Any]:
    """A url_citation in Chat Completions' shape (the fields nested under `url_citation`)."""
    fields = {k: annotation[k] for k in ("start_index", "end_index", "url", "title")}
    return {"type": "url_citation", "url_citation": fields}
