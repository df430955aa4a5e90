"""One sequence of a turn: the engine's token deltas -> harmony events, with the turn's stop rules.

This is the one place that knows how a reply ends:
- the stop token. An engine may report the token that stopped it (`<|call|>`, `<|return|>`) only
  in `RequestOutput.stop_token_id`; the harmony decoder needs it to tell a finished call from a
  cut-off one, so it is fed here when the ids lack it.
- the finish reason. The engine's (`stop`, `length`, `abort`) meets the decoder's (a `<|call|>`
  after a function call is `tool_calls`); every sequence ends with exactly one `Finished` event.
- stop strings, applied to answer text (content and preamble); a match ends the sequence.

Logprobs follow the answer text: with logprobs asked for, tokens are fed one at a time and the
logprob of each token that belongs to the answer rides on the delta that carries its text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gossamer.engine.protocol import RequestOutput, TokenLogprob
from gossamer.harmony.events import (
    ContentDelta,
    Event,
    Finished,
    FinishReason,
    ParsedOutput,
    PreambleDelta,
    fold,
)
from gossamer.harmony.render import RenderedPrompt
from gossamer.harmony.stream import StreamDecoder
from gossamer.harmony.tokenizer import TokenTable, token_table
from gossamer.turn.stop_strings import StopMatcher

# The engine's finish reasons that are news to the decoder: a plain "stop" is left to the decoder,
# which knows a <|return|> from a <|call|>.
_ENGINE_FINISH = {"length": FinishReason.LENGTH, "abort": FinishReason.ABORT}


def engine_finish_reason(output: RequestOutput) -> FinishReason | None:
    """How the engine ended a sequence, when that is more than a stop token (`length`, `abort`)."""
    return _ENGINE_FINISH.get(output.finish_reason or "")

AnswerDelta = ContentDelta | PreambleDelta


@dataclass
class TurnDelta:
    """What one engine output added to one sequence."""

    index: int  # which sequence (choice) of the turn
    events: list[Event] = field(default_factory=list)  # harmony events; the last delta ends with Finished
    logprobs: list[TokenLogprob] = field(default_factory=list)  # of the answer tokens behind these events

    @property
    def finished(self) -> Finished | None:
        last = self.events[-1] if self.events else None
        return last if isinstance(last, Finished) else None

    def __bool__(self) -> bool:
        return bool(self.events or self.logprobs)


class SequenceDecoder:
    def __init__(
        self,
        index: int,
        rendered: RenderedPrompt,
        *,
        stop_strings: tuple[str, ...] | list[str] = (),
        logprobs: bool = False,
        table: TokenTable | None = None,
    ) -> None:
        self.index = index
        self.table = table or token_table()
        self.decoder = StreamDecoder.for_prompt(rendered, table=self.table)
        self.stop = StopMatcher(list(stop_strings)) if stop_strings else None
        self.want_logprobs = logprobs
        self.finished: Finished | None = None
        self.parsed = ParsedOutput()  # the fold of every event so far (reasoning and calls, for replay)
        self._last_fed: int | None = None
        self._in_answer = False  # the last text this sequence produced was answer text
        self._held_kind: type[AnswerDelta] | None = None  # kind of the text the stop matcher holds

    @property
    def done(self) -> bool:
        return self.finished is not None

    def step(self, output: RequestOutput, *, aborted: bool = False) -> TurnDelta:
        """Feed one engine output; `aborted` says the turn was cancelled (its end is an abort)."""
        delta = TurnDelta(self.index)
        if self.done:
            return delta
        token_ids = list(output.token_ids)
        last = token_ids[-1] if token_ids else self._last_fed
        if output.finished and output.stop_token_id is not None and last != output.stop_token_id:
            token_ids.append(output.stop_token_id)
        logprobs = list(output.logprobs or ()) if self.want_logprobs else []
        if logprobs:
            for i, token_id in enumerate(token_ids):
                self._feed(delta, [token_id], logprobs[i] if i < len(logprobs) else None)
                if self.done:
                    break
        else:
            self._feed(delta, token_ids, None)
        if output.finished and not self.done:
            reason = FinishReason.ABORT if aborted else engine_finish_reason(output)
            self._apply(delta, self.decoder.finish(reason))
        return delta

    def end(self, reason: FinishReason | None) -> TurnDelta:
        """The engine's stream ended without finishing this sequence (aborted, or the engine stopped).

        reason None: a clean stop between messages, a cut (`length`) inside one.
        """
        delta = TurnDelta(self.index)
        if not self.done:
            self._apply(delta, self.decoder.finish(reason))
        return delta

    # -- feeding ---------------------------------------------------------------------------------

    def _feed(self, delta: TurnDelta, token_ids: list[int], logprob: TokenLogprob | None) -> None:
        if not token_ids:
            return
        self._last_fed = token_ids[-1]
        events = self.decoder.feed(token_ids)
        is_special = any(t in self.table.special_names for t in token_ids)
        if is_special:
            self._in_answer = False
        self._apply(delta, events)
        made_answer = any(isinstance(e, AnswerDelta) for e in events)
        # A token inside the answer that completes no character yet (split UTF-8) is still answer.
        if logprob is not None and (made_answer or (self._in_answer and not is_special and not events)):
            delta.logprobs.append(logprob)

    def _apply(self, delta: TurnDelta, events: list[Event]) -> None:
        for event in events:
            if self.done:
                return
            match event:
                case ContentDelta(text=text) | PreambleDelta(text=text):
                    self._in_answer = True
                    self._answer(delta, type(event), text)
                case Finished():
                    self._finish(delta, event)
                case _:
                    self._in_answer = False
                    self._flush_held(delta)
                    self._emit(delta, event)

    def _answer(self, delta: TurnDelta, kind: type[AnswerDelta], text: str) -> None:
        if self.stop is None:
            self._emit(delta, kind(text))
            return
        if self._held_kind is not None and self._held_kind is not kind:
            self._flush_held(delta)  # a stop string does not span a preamble and the answer
        shown = self.stop.push(text)
        self._held_kind = kind
        if shown:
            self._emit(delta, kind(shown))
        if self.stop.stopped:
            # The rest of the turn is cut; the decoder still counts the reasoning so far.
            tail = [e for e in self.decoder.finish(FinishReason.STOP) if isinstance(e, Finished)]
            counts = tail[0] if tail else Finished(FinishReason.STOP, 0, 0)
            self._finish(delta, Finished(FinishReason.STOP, counts.reasoning_tokens, counts.output_tokens))

    def _flush_held(self, delta: TurnDelta) -> None:
        if self.stop is None or self._held_kind is None:
            return
        held = self.stop.flush()
        if held:
            self._emit(delta, self._held_kind(held))
        self._held_kind = None

    def _finish(self, delta: TurnDelta, finished: Finished) -> None:
        if not (self.stop is not None and self.stop.stopped):
            self._flush_held(delta)
        self._emit(delta, finished)
        self.finished = finished

    def _emit(self, delta: TurnDelta, event: Event) -> None:
        delta.events.append(event)
        fold([event], self.parsed)
