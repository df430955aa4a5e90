"""An MCP server's tools in harmony: a namespace of functions in the developer message, calls to
`<namespace>.<tool>` and their results in history, the decoder taking such a call for one the
server runs, and the reply grammar allowing exactly the offered recipients with their schemas."""

from __future__ import annotations

import json

import pytest

from gossamer.engine.protocol import SamplingParams
from gossamer.grammar.plan import turn_constraint
from gossamer.harmony.conversation import (
    Conversation,
    FunctionNamespace,
    FunctionTool,
    Message,
    ToolCallItem,
)
from gossamer.harmony.events import BuiltinToolCall, Finished, FinishReason
from gossamer.harmony.render import RenderError, render_conversation
from gossamer.harmony.stream import StreamDecoder
from gossamer.harmony.tokenizer import decode_text, load_harmony_encoding

SCHEMA = {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}
DOCS = FunctionNamespace(
    "docs", "Tools from the MCP server `docs`.", [FunctionTool("slow_lookup", "Look a topic up.", SCHEMA)]
)
CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
WEATHER = FunctionTool("get_weather", "The weather.", CITY)


def _ids(text: str) -> list[int]:
    return list(load_harmony_encoding().encode(text, allowed_special="all"))


def test_the_namespace_is_rendered_beside_functions_and_calls_keep_their_recipient():
    conv = Conversation(
        messages=[
            Message("user", "What is gossamer?"),
            Message(
                "assistant",
                reasoning="I should look it up.",
                tool_calls=[ToolCallItem("c1", "docs.slow_lookup", '{"topic": "gossamer"}')],
            ),
            Message("tool", "gossamer: thin silk", tool_call_id="c1"),
        ],
        tools=[WEATHER],
        function_namespaces=[DOCS],
    )
    rendered = render_conversation(conv)
    prompt = decode_text(rendered.prompt_ids)
    assert (
        "# Tools\n\n## docs\n\n// Tools from the MCP server `docs`.\nnamespace docs {\n\n"
        "// Look a topic up.\ntype slow_lookup = (_: {\ntopic: string,\n}) => any;\n\n} // namespace docs\n\n"
        "## functions\n\nnamespace functions {" in prompt
    )
    assert (
        "<|start|>assistant<|channel|>analysis<|message|>I should look it up.<|end|>"
        '<|start|>assistant to=docs.slow_lookup<|channel|>commentary <|constrain|>json<|message|>{"topic": '
        '"gossamer"}<|call|><|start|>docs.slow_lookup to=assistant<|channel|>commentary<|message|>gossamer: '
        "thin silk<|end|><|start|>assistant" in prompt
    )
    assert rendered.namespaced_tools == ("docs.slow_lookup",) and rendered.tool_names == ("get_weather",)


def test_reserved_and_non_identifier_namespaces_are_refused():
    for name in ("functions", "browser", "my-docs"):
        conv = Conversation(messages=[Message("user", "hi")], function_namespaces=[FunctionNamespace(name)])
        with pytest.raises(RenderError):
            render_conversation(conv)


def test_the_decoder_takes_a_namespaced_call_for_a_server_call():
    rendered = render_conversation(
        Conversation(messages=[Message("user", "hi")], tools=[WEATHER], function_namespaces=[DOCS])
    )
    decoder = StreamDecoder.for_prompt(rendered)
    reply = '<|channel|>commentary to=docs.slow_lookup <|constrain|>json<|message|>{"topic": "x"}<|call|>'
    events = decoder.feed(_ids(reply)) + decoder.finish()
    assert events[0] == BuiltinToolCall("docs.slow_lookup", "commentary", '{"topic": "x"}')
    assert isinstance(events[-1], Finished) and events[-1].reason is FinishReason.TOOL_CALLS
    assert decoder.warnings == []  # an offered recipient is no repair


def test_the_grammar_allows_the_offered_recipients_with_their_schema_only():
    conv = Conversation(messages=[Message("user", "hi")], function_namespaces=[DOCS])
    constraint = turn_constraint(conv, render_conversation(conv), SamplingParams())
    assert constraint is not None
    grammar = json.loads(constraint.grammars.full)["grammars"][0]["lark_grammar"]
    assert '" to=docs.slow_lookup"' in grammar

    def accepts(reply: str) -> bool:
        matcher = constraint.new()
        return all(matcher.accept(token) for token in _ids(reply))

    call = "<|channel|>analysis<|message|>Look it up.<|end|><|start|>assistant<|channel|>commentary to={}"
    assert accepts(call.format("docs.slow_lookup") + ' <|constrain|>json<|message|>{"topic": "x"}<|call|>')
    assert not accepts(call.format("docs.other") + " <|constrain|>json<|message|>{}<|call|>")
    assert not accepts(call.format("docs.slow_lookup") + ' <|constrain|>json<|message|>{"topic": 3}<|call|>')


def test_tool_choice_required_may_be_met_by_a_namespaced_call():
    conv = Conversation(messages=[Message("user", "hi")], function_namespaces=[DOCS], tool_choice="required")
    rendered = render_conversation(conv)
    assert decode_text(rendered.prefill_ids).startswith("<|start|>assistant to=docs.slow_lookup")
