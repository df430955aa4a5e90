"""The turn's prompt: the context check, truncation by whole turns, max_tokens refused or clipped."""

from __future__ import annotations

import pytest

from gossamer.engine.protocol import SamplingParams
from gossamer.harmony.conversation import Conversation, Message
from gossamer.harmony.render import render_conversation
from gossamer.harmony.tokenizer import load_harmony_encoding
from gossamer.testing.scripted_engine import ScriptedEngine
from gossamer.turn import ContextOverflow, TurnPipeline, TurnSpec


def conversation(num_turns: int = 1, words: int = 50) -> Conversation:
    messages = [Message("system", "Be brief.")]
    for i in range(num_turns):
        messages += [Message("user", f"question {i} " + "word " * words), Message("assistant", f"answer {i}")]
    messages.append(Message("user", "last question"))
    return Conversation(messages=messages)


def pipeline(context: int) -> TurnPipeline:
    return TurnPipeline(ScriptedEngine(max_context_length=context), load_harmony_encoding())


def prompt_len(conv: Conversation) -> int:
    return len(render_conversation(conv).prompt_ids)


def test_a_prompt_that_does_not_fit_is_refused_not_cut():
    conv = conversation(3)
    with pytest.raises(ContextOverflow) as info:
        pipeline(prompt_len(conv)).prepare(TurnSpec(conv))
    assert info.value.prompt_too_long and "Shorten the prompt" in str(info.value)


def test_max_tokens_beyond_the_room_is_refused_or_clipped():
    conv = conversation(1)
    n = prompt_len(conv)
    with pytest.raises(ContextOverflow) as info:
        pipeline(n + 10).prepare(TurnSpec(conversation(1), SamplingParams(max_tokens=11)))
    assert not info.value.prompt_too_long and "Lower max_tokens" in info.value.describe("max_tokens")
    prepared = pipeline(n + 10).prepare(
        TurnSpec(conversation(1), SamplingParams(max_tokens=11), clip_max_tokens=True)
    )
    assert prepared.params.max_tokens == 10
    assert prepared.params.stop_token_ids == tuple(prepared.rendered.stop_token_ids)


def test_a_tighter_context_bounds_the_output():
    conv = conversation(1)
    n = prompt_len(conv)
    prepared = pipeline(4096).prepare(TurnSpec(conversation(1), max_context_length=n + 7))
    assert prepared.params.max_tokens == 7


def test_truncation_drops_whole_turns_oldest_first():
    full = conversation(4)
    limit = prompt_len(conversation(2)) + 1  # room for the last two turns
    prepared = pipeline(limit).prepare(TurnSpec(full, truncation=True))
    kept = [m.content for m in full.messages]  # the conversation was trimmed in place
    assert kept[0] == "Be brief." and kept[-1] == "last question"
    assert not any(c.startswith(("question 0", "question 1")) for c in kept)
    assert any(c.startswith("question 3") for c in kept)
    assert len(prepared.prompt_ids) < limit
    with pytest.raises(ContextOverflow) as info:  # even the last turn alone does not fit
        pipeline(10).prepare(TurnSpec(conversation(2), truncation=True))
    assert info.value.truncated
