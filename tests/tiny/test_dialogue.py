"""Multi-turn training conversations: rendered by the server's own renderer, earlier turns'
reasoning gone, follow-ups that mean what they say, and no held-out phrasing in training."""

from __future__ import annotations

import random

import pytest
from openai_harmony import Role

from gossamer.tiny import wider_phrasing as wider
from gossamer.tiny.data import render_training, sample_episode
from gossamer.tiny.dialogue import sample_dialogue
from gossamer.tiny.served import episode_dialogue, render_dialogue, training_conversation
from gossamer.tiny.turn_phrasing import AGAIN, INTRO, NAMES, OUT_OF_SCOPE, REPEAT, THERE

RETURN, CALL = 200002, 200012


def _spans(mask: list[int]) -> list[tuple[int, int]]:
    spans, start = [], None
    for i, m in enumerate([*mask, 0]):
        if m and start is None:
            start = i
        if not m and start is not None:
            spans.append((start, i))
            start = None
    return spans


def test_a_single_request_renders_as_before(encoding) -> None:
    """The server's renderer and the single-request renderer agree token for token (so a level-3
    corpus is the same as before, and the dialogues are rendered like everything else)."""
    rng = random.Random(3)
    for _ in range(150):
        ep = sample_episode(random.Random(rng.getrandbits(32)), augment=3)
        assert render_training(ep, encoding, random.Random(1)) == render_dialogue(
            episode_dialogue(ep), encoding, random.Random(1)
        )
    for level in (0, 3):  # below level 4 the corpus generator draws exactly what it drew before
        a, b = random.Random(9), random.Random(9)
        for _ in range(20):
            assert training_conversation(a, encoding, level) == render_training(
                sample_episode(b, augment=level), encoding, b
            )


def test_only_the_last_turn_is_trained_and_earlier_reasoning_is_gone(encoding) -> None:
    rng = random.Random(11)
    analysis = encoding.encode("<|channel|>analysis", allowed_special="all")
    for _ in range(150):
        d = sample_dialogue(rng, augment=4)
        ids, mask = render_dialogue(d, encoding, rng)
        assert ids[-1] == RETURN and len(ids) == len(mask)
        text = encoding.decode_utf8(ids)
        last_user = text.rindex("<|start|>user")
        assert text.count("<|start|>user") == len(d.turns)
        # Reasoning appears only after the last user message: every earlier turn ended on an answer.
        assert "<|channel|>analysis" not in text[:last_user]
        assert text.count("<|channel|>final") == len(d.turns)
        spans = _spans(mask)
        assert len(spans) == len(d.turns[-1].calls) + 1
        for a, b in spans:
            assert encoding.decode_utf8(ids[a - 2 : a]) == "<|start|>assistant"
            assert encoding.decode_utf8(ids[:a]).count("<|start|>user") == len(d.turns)  # the last turn
            messages = encoding.parse_messages_from_completion_tokens(ids[a:b], Role.ASSISTANT)
            assert messages[0].channel == "analysis"
        assert ids[spans[0][0] : spans[0][0] + len(analysis)] == analysis


def test_a_dropping_client_trains_the_step_after_a_call_without_its_reasoning(encoding) -> None:
    rng = random.Random(5)
    seen = 0
    while seen < 60:
        d = sample_dialogue(rng, augment=4)
        if not d.turns[-1].calls:
            continue
        seen += 1
        ids, mask = render_dialogue(d, encoding, rng, drop_reasoning=True)
        (a, b), *rest = _spans(mask)
        assert not rest and ids[b - 1] in (RETURN, CALL)
        prompt = encoding.decode_utf8(ids[:a])
        turn = prompt[prompt.rindex("<|start|>user") :]
        assert "<|channel|>analysis" not in turn and "to=assistant" in turn  # a result, no reasoning


@pytest.mark.parametrize("level", [4, 6])
def test_follow_ups_change_one_value_of_the_last_call_or_switch_for_the_same_city(level: int) -> None:
    rng = random.Random(2)
    labels = set()
    for _ in range(400):
        d = sample_dialogue(rng, augment=level)
        for prev, ep, label in zip(d.turns, d.turns[1:], d.labels[1:], strict=False):
            labels.add(label)
            if label == "again":
                last = prev.calls[-1]
                (call,) = ep.calls
                assert call.schema is last.schema
                changed = {k for k in call.slots if call.slots[k] != last.slots[k]}
                assert changed and (changed <= {"expression", "a", "b", "op"} or len(changed) == 1)
            if label == "there":
                (call,) = ep.calls
                assert {prev.calls[-1].schema.kind, call.schema.kind} == {"weather", "time"}
                assert call.slots["city"] == prev.calls[-1].slots["city"]
        offered = {t.name for t in d.tools}
        assert all(c.schema.name in offered for ep in d.turns for c in ep.calls)
        assert not any(
            c.schema.kind in {t.kind for t in d.tools}
            for ep in d.turns
            if ep.no_call_reason == "no_fit"
            for c in ep.calls
        )
    assert {"again", "there", "switch", "repeat", "out_of_scope", "small_talk", "intro"} <= labels


def test_a_repeat_turn_answers_with_the_last_answer(encoding) -> None:
    rng = random.Random(4)
    found = 0
    while found < 20:
        d = sample_dialogue(rng, augment=4)
        if d.labels[-1] != "repeat":
            continue
        found += 1
        text = encoding.decode_utf8(render_dialogue(d, encoding, rng)[0])
        answers = [part.split("<|")[0] for part in text.split("<|channel|>final<|message|>")[1:]]
        assert answers[-1] == answers[-2]


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" ?.!,")


@pytest.mark.parametrize(("seed", "level"), [(0, 4), (1, 4), (2, 6), (3, 9)])
def test_held_out_turn_phrasings_never_train(seed: int, level: int) -> None:
    held = {_norm(t) for variants in AGAIN.values() for _, _, h in variants for t in h}
    held |= {_norm(t) for _, h in THERE.values() for t in h}
    held |= {_norm(t) for t in (*REPEAT[1], *INTRO[1], *OUT_OF_SCOPE[1])}
    train = {_norm(t) for variants in AGAIN.values() for _, tr, _ in variants for t in tr}
    train |= {_norm(t) for tr, _ in THERE.values() for t in tr}
    train |= {_norm(t) for t in (*REPEAT[0], *INTRO[0], *OUT_OF_SCOPE[0])}
    train |= {_norm(t) for t in (*wider.REPEAT, *wider.INTRO, *wider.OUT_OF_SCOPE)}
    train |= {_norm(t) for group in (wider.AGAIN, wider.THERE) for ts in group.values() for t in ts}
    assert not held & train and not {*NAMES[0], *wider.NAMES} & set(NAMES[1])
    # Wider follow-ups never start as the held-out ones do.
    assert not any(t.startswith(("how about", "could you")) for t in train)
    # No training turn is a held-out template, filled or not.
    rng = random.Random(seed)
    for _ in range(1500):
        d = sample_dialogue(rng, augment=level)
        for ep in d.turns:
            user = _norm(ep.user)
            assert user not in held
            assert not any(name.lower() in user.split() for name in NAMES[1])
    # And held-out dialogues do use them.
    rng = random.Random(seed)
    users = {_norm(ep.user) for _ in range(300) for ep in sample_dialogue(rng, held_out=True).turns}
    assert any(u.startswith(("how about", "could you")) for u in users)
