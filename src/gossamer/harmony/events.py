"""Typed events the streaming harmony decoder emits; every API layer translates these.

The non-streaming result of a completion is the fold of the same events (see `fold`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FinishReason(StrEnum):
    STOP = "stop"  # <|return|> (or <|end|> when sampling one message)
    LENGTH = "length"  # max tokens or context reached
    TOOL_CALLS = "tool_calls"  # <|call|> to a function
    ABORT = "abort"  # cancelled by the client


@dataclass(frozen=True)
class ReasoningDelta:
    """Chain-of-thought text on the `analysis` channel."""

    text: str


@dataclass(frozen=True)
class ContentDelta:
    """Answer text on the `final` channel."""

    text: str


@dataclass(frozen=True)
class PreambleDelta:
    """`commentary` text with no recipient: a user-visible note before tool calls."""

    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    index: int  # position among this completion's function calls
    call_id: str
    name: str  # function name without the `functions.` namespace


@dataclass(frozen=True)
class ToolCallArgumentsDelta:
    index: int
    text: str


@dataclass(frozen=True)
class ToolCallFinished:
    index: int
    arguments: str  # the whole arguments text


@dataclass(frozen=True)
class BuiltinToolCall:
    """A call the server runs: a built-in tool's (`browser.search`, `python`) or a function of another
    namespace (an MCP server's `docs.search`); recipient and its raw input."""

    recipient: str
    channel: str
    text: str


@dataclass(frozen=True)
class Finished:
    reason: FinishReason
    reasoning_tokens: int
    output_tokens: int


Event = (
    ReasoningDelta
    | ContentDelta
    | PreambleDelta
    | ToolCallStarted
    | ToolCallArgumentsDelta
    | ToolCallFinished
    | BuiltinToolCall
    | Finished
)


@dataclass
class ToolCall:
    call_id: str
    name: str
    arguments: str = ""


@dataclass
class ParsedOutput:
    """The whole of one completion: what the non-streaming APIs return."""

    reasoning: str = ""
    content: str = ""
    preamble: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    builtin_calls: list[BuiltinToolCall] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    reasoning_tokens: int = 0
    output_tokens: int = 0


def fold(events: list[Event] | tuple[Event, ...], out: ParsedOutput | None = None) -> ParsedOutput:
    """Fold a stream of events into the non-streaming result (continuing `out` when given)."""
    out = out if out is not None else ParsedOutput()
    for event in events:
        match event:
            case ReasoningDelta(text=text):
                out.reasoning += text
            case ContentDelta(text=text):
                out.content += text
            case PreambleDelta(text=text):
                out.preamble += text
            case ToolCallStarted(call_id=call_id, name=name):
                out.tool_calls.append(ToolCall(call_id=call_id, name=name))
            case ToolCallArgumentsDelta(index=index, text=text):
                out.tool_calls[index].arguments += text
            case ToolCallFinished(index=index, arguments=arguments):
                out.tool_calls[index].arguments = arguments
            case BuiltinToolCall():
                out.builtin_calls.append(event)
            case Finished(reason=reason, reasoning_tokens=r, output_tokens=o):
                out.finish_reason, out.reasoning_tokens, out.output_tokens = reason, r, o
    return out
