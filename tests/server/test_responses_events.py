"""Harmony decoder events -> OpenAI's Responses stream events, checked against the SDK's types."""

from __future__ import annotations

import pydantic
from openai.types.responses import Response, ResponseStreamEvent

from gossamer.harmony.events import (
    ContentDelta,
    Finished,
    FinishReason,
    ReasoningDelta,
    ToolCallArgumentsDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from gossamer.server.responses.events import ResponseEventBuilder
from gossamer.server.responses.protocol import CreateResponseRequest, Usage
from gossamer.server.responses.request import new_response

EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)
USAGE = Usage.of(input_tokens=10, cached_tokens=4, output_tokens=7, reasoning_tokens=3).model_dump()


def _builder() -> ResponseEventBuilder:
    return ResponseEventBuilder(new_response(CreateResponseRequest(input="hi"), "gossamer-tiny"))


def _check(events: list[dict]) -> list[str]:
    for number, event in enumerate(events):
        assert event["sequence_number"] == number
        EVENTS.validate_python(event)
    return [event["type"] for event in events]


def test_reasoning_then_answer():
    builder = _builder()
    events = builder.start()
    events += builder.feed(
        [ReasoningDelta("think"), ReasoningDelta("ing"), ContentDelta("Hel"), ContentDelta("lo")]
    )
    events += builder.feed([Finished(FinishReason.STOP, reasoning_tokens=3, output_tokens=7)])
    events += builder.finish("completed", usage=USAGE)
    assert _check(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = Response.model_validate(events[-1]["response"])
    assert final.status == "completed" and final.output_text == "Hello"
    assert final.output[0].type == "reasoning" and final.output[0].content[0].text == "thinking"
    assert final.usage.output_tokens_details.reasoning_tokens == 3
    assert final.usage.input_tokens_details.cached_tokens == 4
    assert events[0]["response"]["output"] == [] and events[0]["response"]["status"] == "in_progress"
    assert builder.response == events[-1]["response"]  # the non-streamed object is the terminal one


def test_function_calls_stream_arguments():
    builder = _builder()
    events = builder.start()
    events += builder.feed(
        [
            ReasoningDelta("call it"),
            ToolCallStarted(0, "call_a", "get_weather"),
            ToolCallArgumentsDelta(0, '{"city":'),
            ToolCallArgumentsDelta(0, '"Paris"}'),
            ToolCallFinished(0, '{"city":"Paris"}'),
            ToolCallStarted(1, "call_b", "get_time"),
            ToolCallFinished(1, "{}"),
        ]
    )
    events += builder.finish("completed", usage=USAGE)
    types = _check(events)
    assert types.count("response.function_call_arguments.delta") == 2
    assert types.count("response.function_call_arguments.done") == 2
    final = Response.model_validate(events[-1]["response"])
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments, c.status) for c in calls] == [
        ("call_a", "get_weather", '{"city":"Paris"}', "completed"),
        ("call_b", "get_time", "{}", "completed"),
    ]


def test_cut_off_answer_is_incomplete():
    builder = _builder()
    events = builder.start() + builder.feed([ContentDelta("Once upon")])
    events += builder.finish("incomplete", usage=USAGE, incomplete_reason="max_output_tokens")
    assert _check(events)[-1] == "response.incomplete"
    final = Response.model_validate(events[-1]["response"])
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.output[0].status == "incomplete"
    assert [e["type"] for e in events].count("response.completed") == 0
