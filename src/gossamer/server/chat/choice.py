"""One choice of a chat completion: the turn's deltas -> Chat Completions deltas.

Streaming and non-streaming answers are built from the same `ChoiceDelta`s (the non-streaming
one is their sum), so a greedy stream and its non-streamed twin cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gossamer.engine.protocol import TokenLogprob
from gossamer.harmony.events import (
    ContentDelta,
    Finished,
    FinishReason,
    PreambleDelta,
    ReasoningDelta,
    ToolCallArgumentsDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from gossamer.harmony.tokenizer import TokenTable
from gossamer.server.detokenizer import token_bytes
from gossamer.server.server_tools import chat_annotation
from gossamer.tools.browser.citations import CitationStream
from gossamer.tools.events import ServerToolFinished
from gossamer.turn.sequence import TurnDelta

# OpenAI has no "abort": a turn the server stopped reports what it had as a stop.
_FINISH_REASONS = {
    FinishReason.STOP: "stop",
    FinishReason.TOOL_CALLS: "tool_calls",
    FinishReason.LENGTH: "length",
    FinishReason.ABORT: "stop",
}


@dataclass
class ChoiceDelta:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # OpenAI tool_call delta objects
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # entries of logprobs.content
    finish_reason: str | None = None
    # The server's own tool calls (docs/builtin-tools.md) and the answer's citations of their pages.
    server_tool_calls: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.content or self.reasoning or self.tool_calls or self.logprobs or self.finish_reason
            or self.server_tool_calls or self.annotations
        )


def logprob_entry(table: TokenTable, lp: TokenLogprob, num_top: int) -> dict[str, Any]:
    data = token_bytes(table, lp.token_id)
    return {
        "token": data.decode("utf-8", errors="replace"),
        "logprob": lp.logprob,
        "bytes": list(data),
        "top_logprobs": [
            {
                "token": token_bytes(table, tid).decode("utf-8", errors="replace"),
                "logprob": value,
                "bytes": list(token_bytes(table, tid)),
            }
            for tid, value in lp.top[:num_top]
        ],
    }


class ChatChoice:
    def __init__(
        self,
        index: int,
        table: TokenTable,
        num_top_logprobs: int | None,
        citations: CitationStream | None = None,
    ) -> None:
        self.index = index
        self.citations = citations  # the browser ran: its citations in the answer become links
        self.table = table
        self.num_top_logprobs = num_top_logprobs  # None: no logprobs
        self.finish_reason: str | None = None
        self._streamed_args: dict[int, str] = {}

    def translate(self, delta: TurnDelta) -> ChoiceDelta:
        out = ChoiceDelta()
        for event in delta.events:
            match event:
                case ReasoningDelta(text=text):
                    out.reasoning += text
                case ContentDelta(text=text) if self.citations is not None:
                    shown, annotations = self.citations.push(text)
                    out.content += shown
                    out.annotations += [chat_annotation(a) for a in annotations]
                case ContentDelta(text=text) | PreambleDelta(text=text):
                    out.content += text
                case ServerToolFinished():
                    out.server_tool_calls.append(event.record())
                case ToolCallStarted(index=index, call_id=call_id, name=name):
                    self._streamed_args[index] = ""
                    call = {"name": name, "arguments": ""}
                    out.tool_calls.append(_call_start(index, call_id, call))
                case ToolCallArgumentsDelta(index=index, text=text):
                    self._streamed_args[index] = self._streamed_args.get(index, "") + text
                    out.tool_calls.append({"index": index, "function": {"arguments": text}})
                case ToolCallFinished(index=index, arguments=arguments):
                    streamed = self._streamed_args.get(index, "")
                    if arguments != streamed and arguments.startswith(streamed):
                        self._streamed_args[index] = arguments
                        rest = arguments[len(streamed) :]
                        out.tool_calls.append({"index": index, "function": {"arguments": rest}})
                case Finished(reason=reason):
                    if self.citations is not None:
                        held, annotations = self.citations.flush()
                        out.content += held
                        out.annotations += [chat_annotation(a) for a in annotations]
                    out.finish_reason = self.finish_reason = _FINISH_REASONS[reason]
                case _:
                    pass  # the model's built-in calls show as server_tool_calls once they ran
        if self.num_top_logprobs is not None:
            out.logprobs = [logprob_entry(self.table, lp, self.num_top_logprobs) for lp in delta.logprobs]
        return out


def _call_start(index: int, call_id: str, function: dict[str, str]) -> dict[str, Any]:
    return {"index": index, "id": call_id, "type": "function", "function": function}


def merge_tool_calls(deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold streamed tool-call deltas into whole calls (the non-streaming `message.tool_calls`)."""
    calls: dict[int, dict[str, Any]] = {}
    for d in deltas:
        call = calls.setdefault(
            d["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if "id" in d:
            call["id"] = d["id"]
            call["function"]["name"] = d["function"]["name"]
        call["function"]["arguments"] += d["function"].get("arguments", "")
    return [calls[i] for i in sorted(calls)]
