"""Streaming decoder: completion token ids -> typed events, a state machine that never raises.

We do not use openai-harmony's StreamableParser here: it raises on the malformed output that real
gpt-oss runs produce (shared/reference/clients-and-pitfalls.md), and a peer's exception becomes a 500
in the middle of a stream. Ours salvages: an odd header still yields a message, an id outside the
vocabulary is skipped, a stray `<|return|>` ends the completion keeping what was parsed; each repair
is logged once per decoder as a warning and kept in `StreamDecoder.warnings`.

States: EXPECT_START --<|start|>--> HEADER --<|message|>--> BODY --<|end|>--> EXPECT_START;
`<|return|>` / `<|call|>` (or `<|end|>` with stop_after_message) finish the completion.
The non-streaming result is `fold` of the same events (`decode_completion`): one implementation.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable, Iterable
from enum import Enum
from functools import lru_cache

from gossamer.harmony.conversation import new_call_id
from gossamer.harmony.events import (
    BuiltinToolCall,
    ContentDelta,
    Event,
    Finished,
    FinishReason,
    ParsedOutput,
    PreambleDelta,
    ReasoningDelta,
    ToolCallArgumentsDelta,
    ToolCallFinished,
    ToolCallStarted,
    fold,
)
from gossamer.harmony.header import Header, Kind, parse_header
from gossamer.harmony.tokenizer import TokenTable, load_harmony_encoding, token_table

logger = logging.getLogger(__name__)

# A real header is ~5-25 tokens; past this the model is writing text without ever opening a body.
MAX_HEADER_TOKENS = 40
MAX_WARNINGS = 32  # distinct repairs remembered per decoder

_TEXT_EVENTS = {Kind.REASONING: ReasoningDelta, Kind.PREAMBLE: PreambleDelta, Kind.CONTENT: ContentDelta}


class _State(Enum):
    EXPECT_START = "expect_start"
    HEADER = "header"
    BODY = "body"
    DONE = "done"


class StreamDecoder:
    """Feed completion token ids as they are sampled; get events. Never raises on any id sequence.

    prefill_ids: the tail of the prompt that already belongs to the reply (`RenderedPrompt.prefill_ids`,
    by default `<|start|>assistant`); it is replayed so the decoder starts in step with the prompt.
    """

    def __init__(
        self,
        *,
        prefill_ids: Iterable[int] | None = None,
        tool_names: Iterable[str] = (),
        stop_after_message: bool = False,
        call_id_factory: Callable[[], str] = new_call_id,
        table: TokenTable | None = None,
        namespaced_tools: Iterable[str] = (),
    ) -> None:
        self._table = table or token_table()
        self._tool_names = tuple(tool_names)
        self._namespaced_tools = tuple(namespaced_tools)  # `docs.search`: server-run, like built-ins
        self._stop_after_message = stop_after_message
        self._new_call_id = call_id_factory
        self.warnings: list[str] = []  # what was repaired, first occurrence of each kind
        self._warned: set[str] = set()

        self._state = _State.EXPECT_START
        self._header_bytes = bytearray()
        self._header_tokens = 0
        self._header: Header | None = None
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._body_parts: list[str] = []  # arguments or built-in input of the current call
        self._call_index: int | None = None
        self._message_tokens = 0
        self._num_function_calls = 0
        self._num_builtin_calls = 0
        self._reasoning_tokens = 0
        self._output_tokens = 0
        self._events: list[Event] = []
        self._last_closed_kind: Kind | None = None

        if prefill_ids is None:
            prefill_ids = _default_prefill()
        for token_id in prefill_ids:
            self._step(token_id)
        # Prompt tokens are not output: only what the model generates counts.
        self._message_tokens = self._output_tokens = 0

    @classmethod
    def for_prompt(cls, rendered, **kwargs) -> StreamDecoder:
        """A decoder in step with a `render.RenderedPrompt` (its prefill, tools and stop policy)."""
        return cls(
            prefill_ids=rendered.prefill_ids,
            tool_names=rendered.tool_names,
            stop_after_message=rendered.stop_after_message,
            namespaced_tools=rendered.namespaced_tools,
            **kwargs,
        )

    @property
    def is_finished(self) -> bool:
        return self._state is _State.DONE

    @property
    def current_kind(self) -> Kind | None:
        """What the message being written is (None outside a body): lets an engine constrain only
        the answer (`Kind.CONTENT`) or call arguments to a schema, never the chain of thought."""
        return self._header.kind if self._state is _State.BODY and self._header is not None else None

    def feed(self, token_ids: Iterable[int]) -> list[Event]:
        for token_id in token_ids:
            self._step(token_id)
        return self._take_events()

    def finish(self, reason: FinishReason | None = None) -> list[Event]:
        """End the completion (max tokens, abort, or the engine stopped); a no-op once finished."""
        if self._state is not _State.DONE:
            if reason is None:
                # Stopped on its own between messages: a clean stop; mid-message: truncated.
                reason = FinishReason.STOP if self._state is _State.EXPECT_START else FinishReason.LENGTH
            if self._state is _State.HEADER and self._header_tokens:
                self._warn("truncated_header", "completion ended inside a message header; header dropped")
            elif self._state is _State.BODY:
                # Cut off mid-message: a built-in call's input is incomplete and must not run.
                self._close_message(complete=reason is FinishReason.STOP)
            self._finish(reason)
        return self._take_events()

    # -- one token ------------------------------------------------------------------------------

    def _step(self, token_id: int) -> None:
        if self._state is _State.DONE:
            self._warn("after_finish", "tokens after the end of the completion ignored")
            return
        self._output_tokens += 1
        self._message_tokens += 1
        table = self._table
        if not (0 <= token_id < len(table.token_bytes)):
            self._warn("out_of_vocab", f"id {token_id} outside the vocabulary skipped")
            return
        data = table.token_bytes[token_id]
        if data is not None:
            self._text(data)
            return
        name = table.special_names.get(token_id)
        if name is None:
            self._warn("out_of_vocab", f"id {token_id} outside the vocabulary skipped")
            return
        self._special(name)

    def _text(self, data: bytes) -> None:
        state = self._state
        if state is _State.BODY:
            self._emit_text(self._utf8.decode(data))
            return
        if state is _State.EXPECT_START:
            self._warn("implicit_start", "text outside a message: taken as a header without <|start|>")
            self._open_header()
        self._header_bytes += data
        self._header_tokens += 1
        if self._header_tokens > MAX_HEADER_TOKENS:
            self._warn("long_header", "header never reached <|message|>; its text taken as the body")
            self._complete_header(header_is_body=True)

    def _special(self, name: str) -> None:
        state = self._state
        if name == "<|start|>":
            if state is _State.BODY:
                self._warn("unterminated", "message not ended before <|start|>; closed")
                self._close_message()
            elif state is _State.HEADER and self._header_tokens:
                self._warn("restarted_header", "header restarted by <|start|>")
            self._open_header()
            self._message_tokens = 1
        elif name == "<|channel|>" or name == "<|constrain|>":
            if state is _State.BODY:
                if name == "<|constrain|>":
                    self._warn("stray_special", "<|constrain|> inside a message body ignored")
                    return
                # `...<|channel|>final<|message|>` with no <|end|>/<|start|>: a new message began.
                self._warn("unterminated", "message not ended before <|channel|>; closed")
                self._close_message()
                self._open_header()
                self._message_tokens = 1
            elif state is _State.EXPECT_START:
                self._warn("implicit_start", f"{name} outside a message: header without <|start|>")
                self._open_header()
            self._header_bytes += name.encode()
            self._header_tokens += 1
        elif name == "<|message|>":
            if state is _State.BODY:
                self._warn("stray_special", "<|message|> inside a message body ignored")
                return
            if state is _State.EXPECT_START:
                self._warn("implicit_start", "<|message|> outside a message: header without <|start|>")
                self._open_header()
            self._complete_header()
        elif name in ("<|end|>", "<|return|>", "<|call|>", "<|endoftext|>"):
            self._end_token(name)
        else:  # <|startoftext|>, reserved ids: meaningless in a completion
            self._warn("stray_special", f"{name} ignored")

    def _end_token(self, name: str) -> None:
        if self._state is _State.HEADER:
            if self._header_tokens:
                self._warn("empty_body", f"{name} inside a header: message taken with an empty body")
                self._complete_header()
            else:  # `<|start|>` then an end token: no message at all
                self._state = _State.EXPECT_START
        if self._state is _State.BODY:
            self._close_message()
        elif name == "<|end|>":
            self._warn("stray_end", "<|end|> outside a message ignored")
            return
        elif name == "<|return|>":
            self._warn("stray_return", "stray <|return|> after a finished message: completion ends there")
        if name == "<|end|>":
            if self._stop_after_message:
                self._finish(FinishReason.STOP)
            return
        is_call = self._last_closed_kind in (Kind.FUNCTION_CALL, Kind.BUILTIN_CALL)
        if name == "<|call|>" and not is_call:
            self._warn("call_without_recipient", "<|call|> ended a message that calls nothing")
        if name == "<|endoftext|>":
            self._warn("endoftext", "<|endoftext|> taken as the end of the completion")
        self._finish(FinishReason.TOOL_CALLS if name == "<|call|>" and is_call else FinishReason.STOP)

    # -- messages -------------------------------------------------------------------------------

    def _open_header(self) -> None:
        self._state = _State.HEADER
        self._header_bytes.clear()
        self._header_tokens = 0
        self._header = None

    def _complete_header(self, header_is_body: bool = False) -> None:
        text = self._header_bytes.decode("utf-8", errors="replace")
        header = parse_header(text, self._tool_names, self._namespaced_tools)
        for note in header.notes:
            self._warn("header:" + note[:24], "header repaired: " + note)
        self._header = header
        self._state = _State.BODY
        self._utf8.reset()
        self._body_parts = []
        self._call_index = None
        if header.kind is Kind.FUNCTION_CALL:
            self._call_index = self._num_function_calls
            self._num_function_calls += 1
            self._events.append(ToolCallStarted(self._call_index, self._new_call_id(), header.name or ""))
        if header_is_body:
            # No <|message|> ever came: what followed the role (and channel) is the body text.
            if "<|channel|>" in text:
                body = header.free_text
            else:
                body = text.lstrip().removeprefix("assistant").lstrip()
            self._emit_text(body)

    def _emit_text(self, text: str) -> None:
        if not text:
            return
        kind = self._header.kind if self._header is not None else Kind.CONTENT
        event_type = _TEXT_EVENTS.get(kind)
        if event_type is not None:
            self._events.append(event_type(text))
        elif kind is Kind.FUNCTION_CALL:
            self._body_parts.append(text)
            assert self._call_index is not None
            self._events.append(ToolCallArgumentsDelta(self._call_index, text))
        elif kind is Kind.BUILTIN_CALL:
            self._body_parts.append(text)

    def _close_message(self, complete: bool = True) -> None:
        """End the current message: flush split UTF-8, finish its call, count its tokens."""
        header = self._header
        self._emit_text(self._utf8.decode(b"", final=True))
        if header is not None:
            if header.kind is Kind.FUNCTION_CALL:
                assert self._call_index is not None
                self._events.append(ToolCallFinished(self._call_index, "".join(self._body_parts)))
            elif header.kind is Kind.BUILTIN_CALL:
                if complete:
                    recipient = header.recipient or ""
                    channel = header.channel or "analysis"
                    self._events.append(BuiltinToolCall(recipient, channel, "".join(self._body_parts)))
                    self._num_builtin_calls += 1
                else:
                    self._warn("truncated_builtin", "truncated built-in tool call dropped")
            if header.channel == "analysis" and header.kind is not Kind.FUNCTION_CALL:
                self._reasoning_tokens += self._message_tokens
        self._message_tokens = 0
        self._last_closed_kind = header.kind if header is not None else None
        self._header = None
        self._body_parts = []
        self._state = _State.EXPECT_START

    def _finish(self, reason: FinishReason) -> None:
        if reason is FinishReason.STOP and self._num_function_calls:
            reason = FinishReason.TOOL_CALLS  # a completion that called a function reports tool_calls
        self._events.append(Finished(reason, self._reasoning_tokens, self._output_tokens))
        self._state = _State.DONE

    # -- helpers --------------------------------------------------------------------------------

    def _warn(self, kind: str, message: str) -> None:
        # Once per kind and decoder, so a garbage stream can flood neither the log nor memory.
        if kind not in self._warned and len(self._warned) < MAX_WARNINGS:
            self._warned.add(kind)
            self.warnings.append(message)
            logger.warning("harmony decoder: %s", message)

    def _take_events(self) -> list[Event]:
        events, self._events = _coalesce(self._events), []
        return events


@lru_cache(maxsize=1)
def _default_prefill() -> tuple[int, ...]:
    """`<|start|>assistant`: what `render_conversation_for_completion` ends every prompt with."""
    encoding = load_harmony_encoding()
    return tuple(encoding.encode("<|start|>assistant", allowed_special="all"))


def _coalesce(events: list[Event]) -> list[Event]:
    """Merge adjacent text deltas of one kind (fewer, larger chunks; the fold is unchanged)."""
    if len(events) < 2:
        return events
    out: list[Event] = []
    run: list[str] = []  # texts of the current run of mergeable deltas
    run_key: tuple[type, int | None] | None = None  # (delta type, call index) of that run

    def flush() -> None:
        if run_key is not None:
            kind, index = run_key
            text = "".join(run)
            out.append(ToolCallArgumentsDelta(index, text) if kind is ToolCallArgumentsDelta else kind(text))
            run.clear()

    for event in events:
        if isinstance(event, ReasoningDelta | ContentDelta | PreambleDelta | ToolCallArgumentsDelta):
            key = (type(event), event.index if isinstance(event, ToolCallArgumentsDelta) else None)
            if key != run_key:
                flush()
                run_key = key
            run.append(event.text)
        else:
            flush()
            run_key = None
            out.append(event)
    flush()
    return out


def decode_completion(
    token_ids: Iterable[int],
    *,
    reason: FinishReason | None = None,
    prefill_ids: Iterable[int] | None = None,
    tool_names: Iterable[str] = (),
    stop_after_message: bool = False,
    call_id_factory: Callable[[], str] = new_call_id,
) -> ParsedOutput:
    """The non-streaming view: the fold of the events a StreamDecoder emits for the same ids."""
    decoder = StreamDecoder(
        prefill_ids=prefill_ids,
        tool_names=tool_names,
        stop_after_message=stop_after_message,
        call_id_factory=call_id_factory,
    )
    return fold(decoder.feed(token_ids) + decoder.finish(reason))
