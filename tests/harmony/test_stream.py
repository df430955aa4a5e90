"""The streaming decoder: well-formed output, and one test per failure mode of
shared/reference/clients-and-pitfalls.md asserting what is salvaged."""

from __future__ import annotations

import logging

import pytest

from gossamer.harmony.conversation import Conversation, FunctionTool, Message
from gossamer.harmony.events import (
    ContentDelta,
    Finished,
    FinishReason,
    ReasoningDelta,
    ToolCall,
    ToolCallArgumentsDelta,
    ToolCallFinished,
    ToolCallStarted,
    fold,
)
from gossamer.harmony.header import Kind
from gossamer.harmony.render import render_conversation
from gossamer.harmony.stream import StreamDecoder, decode_completion
from gossamer.harmony.tokenizer import token_table
from tests.harmony.helpers import counter_ids, ids

TOOLS = ("get_weather", "get_time")


def decode(text: str, **kwargs):
    return decode_completion(ids(text), call_id_factory=counter_ids(), **kwargs)


def streamed(token_ids: list[int], **kwargs):
    """Feed one token at a time, as an engine does; return all events and the decoder."""
    decoder = StreamDecoder(call_id_factory=counter_ids(), **kwargs)
    events = []
    for token_id in token_ids:
        events += decoder.feed([token_id])
    return events + decoder.finish(), decoder


# -- well-formed output ------------------------------------------------------------------------


def test_reasoning_then_answer():
    out = decode(
        "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Hi!<|return|>"
    )
    assert (out.reasoning, out.content, out.finish_reason) == ("Think.", "Hi!", FinishReason.STOP)
    assert out.output_tokens == len(ids("<|channel|>analysis<|message|>Think.<|end|>")) + len(
        ids("<|start|>assistant<|channel|>final<|message|>Hi!<|return|>")
    )
    assert out.reasoning_tokens == len(ids("<|channel|>analysis<|message|>Think.<|end|>"))


def test_tool_call_events_in_order():
    text = (
        "<|channel|>analysis<|message|>Need weather.<|end|>"
        '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Oslo"}<|call|>'  # noqa: E501
    )
    events, _ = streamed(ids(text))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "ReasoningDelta" and kinds[-1] == "Finished"
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    assert started == ToolCallStarted(0, "call_0", "get_weather")
    deltas = [e.text for e in events if isinstance(e, ToolCallArgumentsDelta)]
    assert len(deltas) > 1, "arguments stream as they are generated, not only at the end"
    assert "".join(deltas) == '{"city":"Oslo"}'
    assert ToolCallFinished(0, '{"city":"Oslo"}') in events
    assert events[-1] == Finished(
        FinishReason.TOOL_CALLS,
        len(ids("<|channel|>analysis<|message|>Need weather.<|end|>")),
        len(ids(text)),
    )


def test_preamble_and_builtin_call():
    out = decode(
        "<|channel|>commentary<|message|>Let me search.<|end|>"
        '<|start|>assistant<|channel|>analysis to=browser.search<|message|>{"query":"gpt-oss"}<|call|>'
    )
    assert out.preamble == "Let me search."
    assert [(c.recipient, c.channel, c.text) for c in out.builtin_calls] == [
        ("browser.search", "analysis", '{"query":"gpt-oss"}')
    ]
    assert out.finish_reason is FinishReason.TOOL_CALLS


def test_multibyte_characters_split_across_tokens():
    table = token_table()
    single_byte = {data: i for i, data in enumerate(table.token_bytes) if data is not None and len(data) == 1}
    emoji = "😀".encode()  # 4 bytes, fed as 4 single-byte tokens
    body = [single_byte[bytes([b])] for b in emoji]
    events, _ = streamed(ids("<|channel|>final<|message|>") + body + ids("ok<|return|>"))
    texts = [e.text for e in events if isinstance(e, ContentDelta)]
    assert "".join(texts) == "😀ok"
    assert all("\ufffd" not in t for t in texts)


def test_truncation_is_length_and_keeps_partial_call():
    out = decode('<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Os')
    assert out.finish_reason is FinishReason.LENGTH
    assert out.tool_calls == [ToolCall("call_0", "get_weather", '{"city":"Os')]


def test_finish_reasons_from_the_caller():
    assert (
        decode("<|channel|>final<|message|>Hel", reason=FinishReason.ABORT).finish_reason
        is FinishReason.ABORT
    )
    assert decode("<|channel|>final<|message|>Hello<|end|>").finish_reason is FinishReason.STOP
    stop_early = decode("<|channel|>final<|message|>Hello<|end|><|start|>assistant", stop_after_message=True)
    assert (stop_early.content, stop_early.finish_reason) == ("Hello", FinishReason.STOP)


def test_named_tool_choice_prefill_starts_the_decoder_in_the_call():
    conv = Conversation(
        messages=[Message("user", "hi")],
        tools=[FunctionTool("get_weather")],
        tool_choice={"name": "get_weather"},
    )
    rendered = render_conversation(conv)
    decoder = StreamDecoder.for_prompt(rendered, call_id_factory=counter_ids())
    events = decoder.feed(ids('{"city":"Rome"}<|call|>'))
    out = fold(events)
    assert out.tool_calls == [ToolCall("call_0", "get_weather", '{"city":"Rome"}')]
    assert out.finish_reason is FinishReason.TOOL_CALLS
    assert out.output_tokens == len(ids('{"city":"Rome"}<|call|>'))  # the prefill is prompt, not output


def test_required_tool_choice_prefill_lets_the_model_pick_the_function():
    tools = [FunctionTool("get_weather"), FunctionTool("get_time")]
    rendered = render_conversation(
        Conversation(messages=[Message("user", "hi")], tools=tools, tool_choice="required")
    )
    named = render_conversation(
        Conversation(messages=[Message("user", "hi")], tools=tools, tool_choice={"name": "get_time"})
    )
    assert named.prefill_ids[: len(rendered.prefill_ids)] == rendered.prefill_ids
    completion = named.prefill_ids[len(rendered.prefill_ids) :] + ids("{}<|call|>")
    decoder = StreamDecoder.for_prompt(rendered, call_id_factory=counter_ids())
    out = fold(decoder.feed(completion) + decoder.finish())
    assert out.tool_calls == [ToolCall("call_0", "get_time", "{}")]


# -- failure modes (shared/reference/clients-and-pitfalls.md) --------------------------------------


def test_hyphenated_recipient(caplog):
    with caplog.at_level(logging.WARNING):
        out = decode("<|channel|>commentary to=functions.web-browsing <|constrain|>json<|message|>{}<|call|>")
    assert out.tool_calls == [ToolCall("call_0", "web-browsing", "{}")]
    assert out.finish_reason is FinishReason.TOOL_CALLS


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("<|channel|>commentary to=get_weather <|constrain|>json", "get_weather"),  # namespace missing
        ("<|channel|>commentary to=functions.Get-Weather json", "get_weather"),  # case and hyphen
        ('<|channel|>commentary to="functions.get_time" json', "get_time"),  # quoted
        ("<|channel|>commentary to=functions.get_weather:", "get_weather"),  # trailing punctuation
    ],
)
def test_odd_recipients(header, name, caplog):
    with caplog.at_level(logging.WARNING):
        out = decode(header + '<|message|>{"a":1}<|call|>', tool_names=TOOLS)
    assert out.tool_calls == [ToolCall("call_0", name, '{"a":1}')]
    assert caplog.records, "a repaired header is logged"


def test_recipient_in_the_role():
    text = (
        "<|channel|>analysis<|message|>call it<|end|>"
        '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"x":1}<|call|>'  # noqa: E501
    )
    out = decode(text)
    assert out.reasoning == "call it"
    assert out.tool_calls == [ToolCall("call_0", "get_weather", '{"x":1}')]
    # right after the prompt's `<|start|>assistant` too
    out = decode(" to=functions.get_time<|channel|>commentary json<|message|>{}<|call|>")
    assert out.tool_calls == [ToolCall("call_0", "get_time", "{}")]


def test_tool_call_on_the_analysis_channel():
    out = decode('<|channel|>analysis to=functions.get_weather code<|message|>{"city":"Lima"}<|call|>')
    assert out.tool_calls == [ToolCall("call_0", "get_weather", '{"city":"Lima"}')]
    assert out.reasoning == "" and out.finish_reason is FinishReason.TOOL_CALLS
    assert out.reasoning_tokens == 0


def test_stray_return_after_end_keeps_the_answer(caplog):
    with caplog.at_level(logging.WARNING):
        out = decode(
            "<|channel|>analysis<|message|>r<|end|><|start|>assistant<|channel|>final<|message|>The answer.<|end|><|return|>"  # noqa: E501
        )
    assert (out.reasoning, out.content, out.finish_reason) == ("r", "The answer.", FinishReason.STOP)
    assert any("stray <|return|>" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("<|channel|>––commentary", "preamble"),
        ("<|channel|>commentary?", "preamble"),
        ("<|channel|>final and then some free text", "content"),
        ("<|channel|>analysis!!", "reasoning"),
        (" final", "content"),  # channel without <|channel|>
        ("", "content"),  # no channel at all: shown as the answer rather than lost
    ],
)
def test_garbage_in_a_header(header, field):
    out = decode(header + "<|message|>Salvaged text.<|end|>")
    assert getattr(out, field) == "Salvaged text."
    assert out.finish_reason is FinishReason.STOP


def test_ids_outside_the_vocabulary_are_skipped():
    head, tail = ids("<|channel|>final<|message|>Hello"), ids(" world<|return|>")
    bad = [-1, 201088, 10**9, 200000, 200013]  # negative, past the vocab, reserved specials
    events, decoder = streamed(head + bad + tail)
    out = fold(events)
    assert out.content == "Hello world" and out.finish_reason is FinishReason.STOP
    assert out.output_tokens == len(head) + len(bad) + len(tail)
    assert any("outside the vocabulary" in w for w in decoder.warnings)


@pytest.mark.parametrize(
    "text",
    [
        '<|channel|>commentary to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"a":1}<|call|>',  # noqa: E501
        '<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>{"a":1}<|call|>',
        '<|channel|>commentary to=functions.get_weather<|start|>assistant<|channel|>commentary<|message|>{"a":1}<|call|>',  # noqa: E501
    ],
)
def test_special_tokens_never_leak_into_names(text):
    out = decode(text)
    names = [c.name for c in out.tool_calls]
    assert all("<|" not in n and "|>" not in n for n in names)
    assert "<|" not in out.content + out.preamble + out.reasoning


def test_special_token_in_a_name_salvages_the_call():
    out = decode(
        '<|channel|>commentary to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"a":1}<|call|>'  # noqa: E501
    )
    assert out.tool_calls == [ToolCall("call_0", "get_weather", '{"a":1}')]


def test_message_without_end_before_a_new_one():
    out = decode(
        "<|channel|>analysis<|message|>thinking<|start|>assistant<|channel|>final<|message|>done<|return|>"
    )
    assert (out.reasoning, out.content) == ("thinking", "done")
    out = decode("<|channel|>analysis<|message|>thinking<|channel|>final<|message|>done<|return|>")
    assert (out.reasoning, out.content) == ("thinking", "done")


def test_header_that_never_ends_becomes_the_answer():
    text = "Sure, here is a long answer written without any harmony header at all. " * 4
    out = decode(text + "<|return|>")
    assert out.content.strip().startswith("Sure, here is") and out.finish_reason is FinishReason.STOP


def test_fake_tool_result_written_by_the_model_is_discarded():
    out = decode(
        "<|channel|>final<|message|>ok<|end|><|start|>functions.get_weather to=assistant<|channel|>commentary"
        '<|message|>{"temp": 99}<|end|><|return|>'
    )
    assert out.content == "ok" and out.tool_calls == [] and "99" not in out.preamble


def test_call_token_ending_an_answer_is_a_stop():
    out = decode("<|channel|>final<|message|>Answer<|call|>")
    assert (out.content, out.finish_reason) == ("Answer", FinishReason.STOP)


def test_tokens_after_the_end_are_ignored():
    out = decode("<|channel|>final<|message|>A<|return|><|start|>assistant<|channel|>final<|message|>B")
    assert out.content == "A"


def test_text_before_any_start_after_end():
    out = decode("<|channel|>analysis<|message|>r<|end|>assistant<|channel|>final<|message|>x<|return|>")
    assert (out.reasoning, out.content) == ("r", "x")


def test_current_kind_follows_the_message_being_written():
    decoder = StreamDecoder()
    assert decoder.current_kind is None
    decoder.feed(ids("<|channel|>analysis<|message|>hm"))
    assert decoder.current_kind is Kind.REASONING
    decoder.feed(ids("<|end|><|start|>assistant<|channel|>final<|message|>{"))
    assert decoder.current_kind is Kind.CONTENT
    decoder.feed(ids("}<|return|>"))
    assert decoder.current_kind is None and decoder.is_finished


def test_events_are_coalesced_but_fold_the_same():
    text = "<|channel|>analysis<|message|>a b c d<|end|><|start|>assistant<|channel|>final<|message|>e f g<|return|>"  # noqa: E501
    decoder = StreamDecoder(call_id_factory=counter_ids())
    events = decoder.feed(ids(text)) + decoder.finish()
    assert events[:2] == [ReasoningDelta("a b c d"), ContentDelta("e f g")]
    assert fold(events) == decode(text)
