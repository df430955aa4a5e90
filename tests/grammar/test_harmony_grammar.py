"""The harmony reply grammar and the per-sequence constraint, without a model: replies as gpt-oss
writes them are accepted token by token, what the request does not allow is not, and the reasoning
budget closes the analysis."""

from __future__ import annotations

import json

import pytest
import torch

from gossamer.engine.protocol import SamplingParams, StructuredOutputs
from gossamer.grammar.errors import ConstraintError
from gossamer.grammar.plan import constrain_completion, turn_constraint
from gossamer.harmony.conversation import Conversation, FunctionTool, Message
from gossamer.harmony.render import render_conversation
from gossamer.harmony.tokenizer import load_harmony_encoding, token_table

WEATHER = {
    "type": "object",
    "properties": {"location": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["location", "unit"],
    "additionalProperties": False,
}
ANSWER = {
    "type": "object",
    "properties": {"n": {"type": "integer"}},
    "required": ["n"],
    "additionalProperties": False,
}
A_STRING = {"a": {"type": "string"}}
CALL = "<|channel|>commentary to=functions.{} <|constrain|>json<|message|>{}<|call|>"


def encode(text: str) -> list[int]:
    return load_harmony_encoding().encode(text, allowed_special="all")


def conversation(**kwargs) -> Conversation:
    return Conversation(messages=[Message("user", "hi")], **kwargs)


def factory_for(conv: Conversation, params: SamplingParams | None = None):
    params = params or SamplingParams()
    return turn_constraint(conv, render_conversation(conv), params)


def allowed(constraint) -> set[int]:
    row = torch.zeros((201088 + 31) // 32, dtype=torch.int32)
    constraint.fill_bitmask(row)
    bits = (row[:, None] >> torch.arange(32, dtype=torch.int32)) & 1  # [W, 32]
    return set(bits.reshape(-1).nonzero().flatten().tolist())


def accepts(conv: Conversation, reply: str, params: SamplingParams | None = None) -> bool:
    """Whether the constraint lets the reply through, each token allowed by the mask before it."""
    constraint = factory_for(conv, params).new()
    for token_id in encode(reply):
        if token_id not in allowed(constraint):
            return False
        assert constraint.accept(token_id)
    return True


def test_nothing_asked_means_no_constraint() -> None:
    assert factory_for(conversation()) is None


@pytest.mark.parametrize(
    "reply",
    [
        "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant"
        + CALL.format("get_weather", '{"location":"Paris","unit":"c"}'),
        # the recipient beside the role, as history renders it
        " to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>"
        '{"location":"Oslo","unit":"f"}<|call|>',
        '<|channel|>final<|message|>It is sunny.<|return|>',
    ],
)
def test_tool_replies_as_the_model_writes_them_pass(reply: str) -> None:
    conv = conversation(tools=[FunctionTool("get_weather", "", WEATHER)])
    assert accepts(conv, reply)


@pytest.mark.parametrize(
    "reply",
    [
        CALL.format("get_time", "{}"),  # not offered
        CALL.format("get_weather", '{"city":"Paris"}'),
        CALL.format("get_weather", '{"location":"Paris","unit":"k"}'),
    ],
)
def test_unoffered_tools_and_bad_arguments_cannot_be_written(reply: str) -> None:
    conv = conversation(tools=[FunctionTool("get_weather", "", WEATHER)])
    assert not accepts(conv, reply)


def test_tool_choice_none_forbids_calls_and_required_forbids_answers() -> None:
    call = CALL.format("get_weather", '{"location":"a","unit":"c"}')
    answer = "<|channel|>final<|message|>Hi.<|return|>"
    tools = [FunctionTool("get_weather", "", WEATHER), FunctionTool("get_time", "", None)]
    assert not accepts(conversation(tools=tools, tool_choice="none"), call)
    assert accepts(conversation(tools=tools, tool_choice="none"), answer)
    # required: the prompt prefills the tokens both call headers share; a call must follow
    conv = conversation(tools=tools, tool_choice="required")
    assert not accepts(conv, answer)
    prefill = load_harmony_encoding().decode(render_conversation(conv).prefill_ids)
    assert prefill.startswith("<|start|>assistant to=functions.")
    header = "<|start|>assistant to=functions.get_time<|channel|>commentary <|constrain|>json<|message|>"
    header += "{}<|call|>"
    constraint = factory_for(conv).new()
    for token_id in encode(header.removeprefix(prefill)):
        assert token_id in allowed(constraint)
        constraint.accept(token_id)


def test_named_choice_leaves_only_the_arguments() -> None:
    conv = conversation(tools=[FunctionTool("get_weather", "", WEATHER)], tool_choice={"name": "get_weather"})
    constraint = factory_for(conv).new()
    for token_id in encode('{"location":"Rome","unit":"c"}<|call|>'):
        assert token_id in allowed(constraint)
        constraint.accept(token_id)


def test_response_format_constrains_only_the_final_answer() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": ANSWER, "strict": True}}
    conv = conversation(response_format=fmt)
    free_thought = '<|channel|>analysis<|message|>{{not json at all<|end|><|start|>assistant'
    assert accepts(conv, free_thought + '<|channel|>final<|message|>{"n":3}<|return|>')
    assert not accepts(conv, '<|channel|>final<|message|>{"n":"3"}<|return|>')
    assert not accepts(conv, "<|channel|>final<|message|>Three.<|return|>")


def test_the_reasoning_budget_closes_the_analysis_and_forbids_more() -> None:
    fmt = {"type": "json_object"}
    conv = conversation(response_format=fmt)
    constraint = factory_for(conv, SamplingParams(thinking_token_budget=3)).new()
    end = token_table().special_ids["<|end|>"]
    for token_id in encode("<|channel|>analysis<|message|> one two three"):
        assert token_id in allowed(constraint)
        constraint.accept(token_id)
    assert allowed(constraint) == {end}  # three thought tokens spent: only <|end|>
    constraint.accept(end)
    # another analysis message is no longer possible: the answer must come
    after_channel = allowed_after(constraint, encode("<|start|>assistant<|channel|>"))
    assert encode("analysis")[0] not in after_channel and encode("final")[0] in after_channel
    for token_id in encode('final<|message|>{"a":1}<|return|>'):
        assert token_id in allowed(constraint)
        constraint.accept(token_id)


def allowed_after(constraint, prefix: list[int]) -> set[int]:
    """The tokens allowed once `prefix` is accepted."""
    for token_id in prefix:
        constraint.accept(token_id)
    return allowed(constraint)


def test_default_budget_leaves_half_of_max_tokens_for_the_answer() -> None:
    conv = conversation(response_format={"type": "json_object"}, reasoning_effort="high")
    assert factory_for(conv, SamplingParams(max_tokens=100)).reasoning_budget == 50
    assert factory_for(conv).reasoning_budget == 32768


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        ({"type": "object", "properties": A_STRING, "required": ["a"]}, "additionalProperties"),
        ({"type": "object", "properties": A_STRING, "additionalProperties": False}, "required"),
        ({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": True}}, "required": ["a"],
          "additionalProperties": False}, "uniqueItems"),
        ({"type": "array"}, "root"),
    ],
)
def test_strict_refuses_what_openai_refuses(schema: dict, needle: str) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema, "strict": True}}
    with pytest.raises(ConstraintError) as info:
        factory_for(conversation(response_format=fmt))
    assert needle in str(info.value) and info.value.target == "answer"


def test_a_strict_tool_with_a_bad_pattern_is_refused_and_a_loose_one_falls_back() -> None:
    bad = {"type": "object", "properties": {"a": {"type": "string", "pattern": "[0-9"}}, "required": ["a"],
           "additionalProperties": False}
    tools = [FunctionTool("ok", "", WEATHER), FunctionTool("bad", "", bad, strict=True)]
    with pytest.raises(ConstraintError) as info:
        factory_for(conversation(tools=tools))
    assert (info.value.target, info.value.tool_index) == ("tool", 1)
    loose = [FunctionTool("ok", "", WEATHER), FunctionTool("bad", "", bad)]
    assert accepts(conversation(tools=loose), CALL.format("bad", '{"x":[1]}'))


@pytest.mark.parametrize(
    ("outputs", "text", "ok"),
    [
        (StructuredOutputs(choice=("yes", "no")), "no", True),
        (StructuredOutputs(choice=("yes", "no")), "maybe", False),
        (StructuredOutputs(regex=r"[0-9]{3}-[a-z]{2}"), "123-ab", True),
        (StructuredOutputs(regex=r"[0-9]{3}-[a-z]{2}"), "12-ab", False),
        (StructuredOutputs(json=json.dumps(ANSWER)), '{"n":7}', True),
        (StructuredOutputs(grammar='root ::= "a" [0-9]'), "a7", True),
        (StructuredOutputs(grammar='start: "b" /[0-9]/'), "a7", False),
    ],
)
def test_raw_completions_follow_vllm_structured_outputs(
    outputs: StructuredOutputs, text: str, ok: bool
) -> None:
    params = constrain_completion(SamplingParams(structured_outputs=outputs))
    eos = token_table().special_ids["<|endoftext|>"]
    assert eos in params.stop_token_ids
    constraint = params.constraint.new()
    passed = True
    for token_id in [*load_harmony_encoding().encode(text, disallowed_special=()), eos]:
        if token_id not in allowed(constraint):
            passed = False
            break
        constraint.accept(token_id)
    assert passed is ok


@pytest.mark.parametrize(
    "outputs",
    [
        StructuredOutputs(regex="[0-9"),
        StructuredOutputs(grammar="start: ::="),
        StructuredOutputs(json="{nope"),
        StructuredOutputs(regex="a", choice=("a",)),
    ],
)
def test_bad_structured_outputs_are_refused_before_any_token(outputs: StructuredOutputs) -> None:
    with pytest.raises(ConstraintError):
        constrain_completion(SamplingParams(structured_outputs=outputs))


def test_a_preamble_only_leads_to_a_call() -> None:
    """Chat shows preamble text as content: before a formatted answer only analysis may come."""
    preamble = "<|channel|>commentary<|message|>Let me check.<|end|><|start|>assistant"
    answer = '<|channel|>final<|message|>{"n":1}<|return|>'
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": ANSWER}}
    assert not accepts(conversation(response_format=fmt), preamble + answer)
    tools = [FunctionTool("get_weather", "", WEATHER)]
    call = CALL.format("get_weather", '{"location":"a","unit":"c"}')
    assert accepts(conversation(tools=tools, response_format=fmt), preamble + call)
    assert not accepts(conversation(tools=tools, response_format=fmt), preamble + answer)
