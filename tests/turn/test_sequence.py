"""SequenceDecoder: engine outputs -> harmony events, with the one stop-token, finish and stop policy."""

from __future__ import annotations

import pytest

from gossamer.engine.protocol import RequestOutput, TokenLogprob
from gossamer.harmony.conversation import Conversation, FunctionTool, Message
from gossamer.harmony.events import (
    ContentDelta,
    Finished,
    FinishReason,
    PreambleDelta,
    ToolCallFinished,
    fold,
)
from gossamer.harmony.render import render_conversation
from gossamer.turn.sequence import SequenceDecoder
from tests.harmony.helpers import ids

CALL, RETURN = ids("<|call|>")[0], ids("<|return|>")[0]
WEATHER = FunctionTool("get_weather", "Weather in a city", {"type": "object", "properties": {}})


def rendered(tools: list[FunctionTool] | None = None):
    conv = Conversation(messages=[Message("user", "hi")], tools=tools or [])
    return render_conversation(conv)


def output(token_ids, *, finished=False, reason=None, stop=None, logprobs=None) -> RequestOutput:
    return RequestOutput("r", 0, tuple(token_ids), logprobs=logprobs, finished=finished,
                         finish_reason=reason, stop_token_id=stop)


def run(decoder: SequenceDecoder, outputs: list[RequestOutput]):
    events = []
    for out in outputs:
        events += decoder.step(out).events
    return events


def call_reply() -> list[int]:
    return ids('<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant to=functions.get_weather'
               '<|channel|>commentary json<|message|>{"city": "Paris"}')


@pytest.mark.parametrize("stop_in_ids", [True, False])
def test_a_stop_token_reported_apart_still_finishes_the_call(stop_in_ids):
    body = call_reply()
    token_ids = [*body, CALL] if stop_in_ids else body
    events = run(SequenceDecoder(0, rendered([WEATHER])),
                 [output(token_ids[:5]), output(token_ids[5:], finished=True, reason="stop", stop=CALL)])
    parsed = fold(events)
    assert [c.name for c in parsed.tool_calls] == ["get_weather"]
    assert parsed.tool_calls[0].arguments == '{"city": "Paris"}'
    assert any(isinstance(e, ToolCallFinished) for e in events)
    assert [e.reason for e in events if isinstance(e, Finished)] == [FinishReason.TOOL_CALLS]


@pytest.mark.parametrize(
    ("engine_reason", "aborted", "expected"),
    [("length", False, FinishReason.LENGTH), ("abort", False, FinishReason.ABORT),
     ("stop", True, FinishReason.ABORT), ("length", True, FinishReason.ABORT)],
)
def test_the_engine_finish_reason_maps_once(engine_reason, aborted, expected):
    decoder = SequenceDecoder(0, rendered())
    delta = decoder.step(output(ids("<|channel|>final<|message|>Hel"), finished=True, reason=engine_reason),
                         aborted=aborted)
    assert delta.finished is not None and delta.finished.reason == expected
    assert decoder.done and decoder.step(output(ids("lo"))).events == []  # nothing after the end


def test_every_sequence_ends_with_exactly_one_finished():
    decoder = SequenceDecoder(0, rendered())
    reply = ids("<|channel|>final<|message|>Hi<|return|>")
    events = run(decoder, [output(reply, finished=True, stop=RETURN)])
    events += decoder.end(None).events  # a late end changes nothing
    assert sum(isinstance(e, Finished) for e in events) == 1
    assert events[-1] == Finished(FinishReason.STOP, 0, len(reply))


def test_the_stream_ending_early_finishes_the_sequence():
    decoder = SequenceDecoder(0, rendered())
    run(decoder, [output(ids("<|channel|>final<|message|>Hi"))])
    delta = decoder.end(FinishReason.ABORT)
    assert delta.finished.reason == FinishReason.ABORT


def test_stop_strings_cut_the_answer_and_end_the_turn():
    decoder = SequenceDecoder(0, rendered(), stop_strings=["STOP"])
    text = "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>one ST"
    events = run(decoder, [output(ids(text)), output(ids("OP two"))])
    assert fold(events).content == "one "
    assert events[-1].reason == FinishReason.STOP and events[-1].reasoning_tokens > 0
    assert decoder.done


def test_held_preamble_text_stays_preamble():
    """Text a stop string might start is held back; when the preamble ends it is its own again."""
    decoder = SequenceDecoder(0, rendered([WEATHER]), stop_strings=["xyz"])
    text = ("<|channel|>commentary<|message|>Let me check x<|end|><|start|>assistant to=functions.get_weather"
            '<|channel|>commentary json<|message|>{}<|call|>')
    events = run(decoder, [output(ids(text), finished=True, stop=CALL)])
    preamble = "".join(e.text for e in events if isinstance(e, PreambleDelta))
    assert preamble == "Let me check x"
    assert not any(isinstance(e, ContentDelta) for e in events)


def test_logprobs_ride_with_the_answer_tokens_only():
    reasoning = ids("<|channel|>analysis<|message|>hmm<|end|><|start|>assistant<|channel|>final<|message|>")
    answer = ids("Hello there")
    token_ids = [*reasoning, *answer, RETURN]
    logprobs = tuple(TokenLogprob(t, -0.5) for t in token_ids)
    decoder = SequenceDecoder(0, rendered(), logprobs=True)
    delta = decoder.step(output(token_ids, finished=True, stop=RETURN, logprobs=logprobs))
    assert [lp.token_id for lp in delta.logprobs] == answer
