"""Property test: any API-neutral conversation renders, or fails with a RenderError (a client error)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gossamer.harmony.conversation import Conversation, FunctionTool, Message, ToolCallItem
from gossamer.harmony.render import RenderError, render_conversation
from gossamer.harmony.tokenizer import VOCAB_SIZE

text = st.one_of(st.text(max_size=20), st.sampled_from(["<|start|>", "<|end|>x", "<|channel|>final", ""]))
names = st.sampled_from(["get_weather", "web-search", "python", "browser.search", "bad name", ""])
call = st.builds(ToolCallItem, call_id=st.sampled_from(["c1", "c2"]), name=names, arguments=text)
message = st.builds(
    Message,
    role=st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]),
    content=text,
    reasoning=st.one_of(st.none(), text),
    tool_calls=st.lists(call, max_size=2),
    tool_call_id=st.one_of(st.none(), st.sampled_from(["c1", "c2", "c9"])),
    name=st.one_of(st.none(), names),
)
schema = st.one_of(
    st.none(),
    st.just({"type": "object", "properties": {"a": {"type": "string"}}}),
    st.just(
        {"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}, "$defs": {"N": {"type": "integer"}}}
    ),
    st.just({"type": "array"}),
)
tool = st.builds(FunctionTool, name=names, description=text, parameters=schema)
conversation = st.builds(
    Conversation,
    messages=st.lists(message, max_size=6),
    tools=st.lists(tool, max_size=3),
    builtin_tools=st.lists(st.sampled_from(["browser", "python", "shell"]), max_size=2),
    reasoning_effort=st.sampled_from(["low", "medium", "high", "max"]),
    instructions=st.one_of(st.none(), text),
    tool_choice=st.one_of(
        st.sampled_from(["auto", "none", "required", "sometimes"]), st.fixed_dictionaries({"name": names})
    ),
    response_format=st.one_of(
        st.none(),
        st.just({"type": "text"}),
        st.just({"type": "json_object"}),
        st.just({"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}),
        st.just({"type": "json_schema"}),
    ),
    current_date=st.one_of(st.none(), st.just("2025-01-01")),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation)
def test_any_conversation_renders_or_raises_render_error(conv):
    try:
        rendered = render_conversation(conv)
    except RenderError as exc:
        assert str(exc)
        return
    assert all(0 <= t < VOCAB_SIZE for t in rendered.prompt_ids)
    assert rendered.prompt_ids[-len(rendered.prefill_ids) :] == rendered.prefill_ids
