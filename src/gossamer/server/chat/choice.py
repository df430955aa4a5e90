"""One choice of a chat completion: engine token deltas -> harmony events -> Chat Completions deltas.

Streaming and non-streaming answers are built from the same `ChoiceDelta`s (the non-streaming
one is their sum), so a greedy stream and its non-streamed twin cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gossamer.engine.protocol import RequestOutput, TokenLogprob
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
from gossamer.harmony.stream import StreamDecoder
from gossamer.harmony.tokenizer import TokenTable
from gossamer.server.detokenizer import token_bytes
from gossamer.turn.stop_strings import StopMatcher

_ENGINE_FINISH = {"length": FinishReason.LENGTH, "abort": FinishReason.ABORT}


@dataclass
class ChoiceDelta:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # OpenAI tool_call delta objects
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # entries of logprobs.content
    finish_reason: str | None = None

    def is_empty(self) -> bool:
        return not (self.content or self.reasoning or self.tool_calls or self.logprobs or self.finish_reason)


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
        decoder: StreamDecoder,
        table: TokenTable,
        stops: list[str],
        num_top_logprobs: int | None,
    ) -> None:
        self.index = index
        self.table = table
        self.decoder = decoder
        self.stop = StopMatcher(stops) if stops else None
        self.num_top_logprobs = num_top_logprobs  # None: no logprobs
        self.done = False
        self.finish_reason: str | None = None
        self.num_tokens = 0
        self.num_reasoning_tokens = 0
        self._last_fed: int | None = None
        self._in_content = False  # the last text this choice produced was answer text
        self._num_calls = 0
        self._streamed_args: dict[int, str] = {}

    def step(self, output: RequestOutput) -> ChoiceDelta:
        delta = ChoiceDelta()
        if self.done:
            return delta
        token_ids = list(output.token_ids)
        if (
            output.finished
            and output.stop_token_id is not None
            and self._last_of(token_ids) != output.stop_token_id
        ):
            # The engine reports the stop token apart; harmony needs it to know how the turn ended.
            token_ids.append(output.stop_token_id)
        if self.num_top_logprobs is not None and output.logprobs:
            logprobs = list(output.logprobs)
            for i, token_id in enumerate(token_ids):
                self._feed(delta, [token_id], logprobs[i] if i < len(logprobs) else None)
                if self.done:
                    break
        else:
            self._feed(delta, token_ids, None)
        if output.finished and not self.done:
            reason = _ENGINE_FINISH.get(output.finish_reason or "")
            self._apply(delta, self.decoder.finish(reason))
            if self.stop is not None:
                delta.content += self.stop.flush()
            self._finish(delta, self.finish_reason or "stop")
        return delta

    def _last_of(self, token_ids: list[int]) -> int | None:
        return token_ids[-1] if token_ids else self._last_fed

    def _feed(self, delta: ChoiceDelta, token_ids: list[int], logprob: TokenLogprob | None) -> None:
        if not token_ids:
            return
        self._last_fed = token_ids[-1]
        self.num_tokens += len(token_ids)
        events = self.decoder.feed(token_ids)
        is_special = any(t in self.table.special_names for t in token_ids)
        produced_content = any(isinstance(e, ContentDelta | PreambleDelta) for e in events)
        if is_special:
            self._in_content = False
        self._apply(delta, events)
        if logprob is not None and (produced_content or (self._in_content and not is_special and not events)):
            delta.logprobs.append(logprob_entry(self.table, logprob, self.num_top_logprobs or 0))

    def _apply(self, delta: ChoiceDelta, events: list[Any]) -> None:
        for event in events:
            if self.done:
                return
            match event:
                case ReasoningDelta(text=text):
                    self._in_content = False
                    delta.reasoning += text
                case ContentDelta(text=text) | PreambleDelta(text=text):
                    self._in_content = True
                    self._content(delta, text)
                case ToolCallStarted(index=index, call_id=call_id, name=name):
                    self._in_content = False
                    self._num_calls += 1
                    self._streamed_args[index] = ""
                    delta.tool_calls.append(
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    )
                case ToolCallArgumentsDelta(index=index, text=text):
                    self._streamed_args[index] = self._streamed_args.get(index, "") + text
                    delta.tool_calls.append({"index": index, "function": {"arguments": text}})
                case ToolCallFinished(index=index, arguments=arguments):
                    streamed = self._streamed_args.get(index, "")
                    if arguments != streamed and arguments.startswith(streamed):
                        rest = arguments[len(streamed) :]
                        self._streamed_args[index] = arguments
                        delta.tool_calls.append({"index": index, "function": {"arguments": rest}})
                case Finished(reason=reason, reasoning_tokens=reasoning_tokens):
                    self.num_reasoning_tokens = reasoning_tokens
                    if self._num_calls or reason == FinishReason.TOOL_CALLS:
                        self.finish_reason = "tool_calls"
                    elif reason == FinishReason.LENGTH:
                        self.finish_reason = "length"
                    else:
                        self.finish_reason = "stop"
                case _:
                    pass  # built-in tool calls have no Chat Completions form

    def _content(self, delta: ChoiceDelta, text: str) -> None:
        if self.stop is None:
            delta.content += text
            return
        delta.content += self.stop.push(text)
        if self.stop.stopped:
            # Count the reasoning so far; the rest of the turn is cut.
            for event in self.decoder.finish(FinishReason.STOP):
                if isinstance(event, Finished):
                    self.num_reasoning_tokens = event.reasoning_tokens
            self._finish(delta, "stop")

    def _finish(self, delta: ChoiceDelta, reason: str) -> None:
        self.done = True
        self.finish_reason = reason
        delta.finish_reason = reason


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
