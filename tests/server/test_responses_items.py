"""Input items -> canonical items -> harmony messages, with harmony's chain-of-thought rules."""

from __future__ import annotations

import pytest

from gossamer.harmony.conversation import ToolCallItem
from gossamer.server.errors import APIError
from gossamer.server.responses.items import parse_input
from gossamer.server.responses.translate import items_to_messages


def _no_refs(item_id: str) -> None:
    return None


def parse(raw):
    return parse_input(raw, resolve_reference=_no_refs)


def _agents_sdk_turn() -> list[dict]:
    """What the Agents SDK replays after one tool round: output items verbatim, then the tool output."""
    return [
        {"role": "user", "content": "weather in Paris?"},
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "need the tool"}],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
            "status": "completed",
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]


def test_string_input_is_one_user_message():
    (item,) = parse("hello")
    assert item["type"] == "message" and item["role"] == "user"
    assert item["content"] == [{"type": "input_text", "text": "hello"}]
    assert item["id"].startswith("msg_")


def test_tool_chain_in_progress_keeps_reasoning():
    messages = items_to_messages(parse(_agents_sdk_turn()))
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assistant = messages[1]
    assert assistant.reasoning == "need the tool"
    assert assistant.tool_calls[0].call_id == "call_1"
    assert assistant.tool_calls[0].arguments == '{"city":"Paris"}'
    assert messages[2].tool_call_id == "call_1" and messages[2].name == "get_weather"
    assert messages[2].content == "sunny"


def test_reasoning_is_dropped_after_a_final_answer():
    items = [
        *_agents_sdk_turn(),
        {
            "type": "reasoning",
            "id": "rs_2",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "done"}],
        },
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_2",
            "status": "completed",
            "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}],
        },
        {"role": "user", "content": [{"type": "input_text", "text": "and tomorrow?"}]},
        {
            "type": "reasoning",
            "id": "rs_3",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "again"}],
        },
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_2", "output": "rain"},
    ]
    messages = items_to_messages(parse(items))
    roles = [m.role for m in messages]
    assert roles == ["user", "assistant", "tool", "assistant", "user", "assistant", "tool"]
    assert messages[1].reasoning is None and messages[3].reasoning is None  # finished turn: dropped
    assert messages[3].content == "It is sunny."
    assert messages[5].reasoning == "again"  # the chain still running keeps its CoT


def test_parallel_calls_share_one_assistant_message():
    items = [
        {"role": "user", "content": "two things"},
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": "1"},
        {"type": "function_call_output", "call_id": "b", "output": "2"},
    ]
    messages = items_to_messages(parse(items))
    assert [m.role for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c.name for c in messages[1].tool_calls] == ["f", "g"]
    assert [m.name for m in messages[2:]] == ["f", "g"]


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ([{"type": "file_search_call", "id": "fs_1"}], "input[0].type"),
        ([{"type": "web_search_call", "id": "ws_1"}], "input[0].action"),  # a built-in call needs one
        ([{"type": "function_call", "name": "f", "arguments": "{}"}], "input[0].call_id"),
        ([{"role": "robot", "content": "x"}], "input[0].role"),
        (
            [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}],
            "input[0].content[0].type",
        ),
        ([42], "input[0]"),
    ],
)
def test_bad_items_are_400_naming_the_item(raw, param):
    with pytest.raises(APIError) as info:
        parse(raw)
    assert info.value.status == 400 and info.value.param == param


def test_output_without_its_call_is_400():
    items = parse(
        [{"role": "user", "content": "x"}, {"type": "function_call_output", "call_id": "nope", "output": ""}]
    )
    with pytest.raises(APIError) as info:
        items_to_messages(items)
    assert info.value.status == 400 and "nope" in info.value.message


def test_unknown_item_reference_is_404_and_known_one_resolves():
    stored = {"type": "message", "id": "msg_x", "role": "user", "status": "completed", "content": []}
    assert parse_input(
        [{"type": "item_reference", "id": "msg_x"}], resolve_reference={"msg_x": stored}.get
    ) == [stored]
    with pytest.raises(APIError) as info:
        parse([{"type": "item_reference", "id": "msg_missing"}])
    assert info.value.status == 404


def test_truncation_drops_whole_turns_and_keeps_instructions():
    from gossamer.harmony.conversation import Message
    from gossamer.turn.prompt import drop_oldest_turn

    messages = [
        Message(role="developer", content="rules"),
        Message(role="user", content="q1"),
        Message(role="assistant", content="", tool_calls=[ToolCallItem("c1", "f", "{}")]),
        Message(role="tool", content="r1", tool_call_id="c1", name="f"),
        Message(role="assistant", content="a1"),
        Message(role="user", content="q2"),
    ]
    assert drop_oldest_turn(messages)
    assert [(m.role, m.content) for m in messages] == [("developer", "rules"), ("user", "q2")]
    assert not drop_oldest_turn(messages)  # the last turn is never dropped
