"""Events the tool loop adds to a turn's harmony events (`TurnDelta.events`).

A front-end sees, for each call: the decoder's `BuiltinToolCall` (the model wrote it), then
`ServerToolStarted` (the server runs it), then `ServerToolFinished` with the result; then the
next turn's events. Only the loop's last turn ends with `Finished`. A call that needs the user's
approval first (an MCP tool's `require_approval`) is `ServerToolApprovalRequested` instead, and
the loop ends there: the call runs, or is declined, in a later request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gossamer.tools.protocol import ToolCall, ToolResult


@dataclass(frozen=True)
class ServerToolStarted:
    call: ToolCall


@dataclass(frozen=True)
class ServerToolFinished:
    call: ToolCall
    result: ToolResult
    duration_s: float

    def record(self) -> dict[str, Any]:
        """The call as the Chat and Ollama APIs report it (`server_tool_calls`, docs/builtin-tools.md)."""
        return {
            "id": self.call.call_id,
            "type": self.call.recipient,
            "arguments": self.call.arguments,
            "status": self.result.status,
            "output": self.result.output,
            "duration_ms": round(self.duration_s * 1000, 1),
        }


@dataclass(frozen=True)
class ServerToolApprovalRequested:
    call: ToolCall


ToolEvent = ServerToolStarted | ServerToolFinished | ServerToolApprovalRequested
