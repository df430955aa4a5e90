"""The conversation generator: seeded, schema-valid, rendered exactly as harmony renders."""

from __future__ import annotations

import random

import jsonschema
from openai_harmony import Role

from gossamer.tiny.data import _request, is_held_out_request, render_training, roughen, sample_episode, script
from gossamer.tiny.phrasing import REQUESTS, SMALL_TALK
from gossamer.tiny.tools import KINDS, SCHEMAS, answer_values, sample_slots, simulate


def test_generation_is_deterministic(encoding) -> None:
    def corpus(seed: int) -> list[list[int]]:
        rng = random.Random(seed)
        return [render_training(sample_episode(rng), encoding, rng)[0] for _ in range(20)]

    assert corpus(3) == corpus(3)
    assert corpus(3) != corpus(4)


def test_loss_mask_covers_exactly_the_assistant_output(encoding) -> None:
    rng = random.Random(11)
    for _ in range(30):
        ep = sample_episode(rng)
        ids, mask = render_training(ep, encoding, rng)
        assert len(ids) == len(mask) and ids[-1] == 200002  # ends on <|return|>
        # Every trained span is a well-formed assistant completion ending on <|call|> or <|return|>.
        spans, start = [], None
        for i, m in enumerate(mask):
            if m and start is None:
                start = i
            if not m and start is not None:
                spans.append((start, i))
                start = None
        spans.append((start, len(mask)))
        assert len(spans) == len(ep.calls) + 1
        for a, b in spans:
            assert ids[a - 2 : a] == encoding.encode("<|start|>assistant", allowed_special="all")
            assert ids[b - 1] in (200012, 200002)
            messages = encoding.parse_messages_from_completion_tokens(ids[a:b], Role.ASSISTANT)
            assert messages[0].channel == "analysis"


def test_scripted_calls_match_the_offered_schemas() -> None:
    rng = random.Random(5)
    for _ in range(300):
        ep = sample_episode(rng)
        offered = {t.name: t for t in ep.tools}
        for call in ep.calls:
            assert call.schema.name in offered
            jsonschema.validate(call.arguments, call.schema.parameters)
        if not ep.calls:
            assert ep.direct_answer
        steps = script(ep, rng)
        final = steps[-1][-1]
        assert final.channel == "final"


def test_final_answers_state_the_tool_result() -> None:
    rng = random.Random(2)
    for kind in KINDS:
        for schema in SCHEMAS[kind]:
            slots = sample_slots(kind, rng)
            jsonschema.validate(schema.build_args(slots), schema.parameters)
            result = simulate(kind, slots, rng)
            assert answer_values(kind, result)


def test_held_out_templates_never_train() -> None:
    for train, held in REQUESTS.values():
        assert not set(train) & set(held) and held
    for _, train, held, _ in SMALL_TALK:
        assert not set(train) & set(held)


def test_augmented_phrasings_never_use_held_out_templates() -> None:
    from gossamer.tiny import wider_phrasing as wider
    from gossamer.tiny.phrasing import (
        CAPITAL_QUESTIONS,
        EXTRA_CAPITAL_QUESTIONS,
        EXTRA_JOINERS,
        EXTRA_REQUESTS,
        EXTRA_SMALL_TALK,
        JOINERS,
        TERSE_REQUESTS,
    )

    def norm(text: str) -> str:
        return text.lower().strip(" ?.!")

    held = {norm(t) for _, h in REQUESTS.values() for t in h}
    held |= {norm(t) for _, _, h, _ in SMALL_TALK for t in h}
    held |= {norm(t) for t in (*CAPITAL_QUESTIONS[1], *JOINERS[1])}
    extra = [t for kind in REQUESTS for t in (*EXTRA_REQUESTS[kind], *TERSE_REQUESTS[kind])]
    extra += [t for _, talk in EXTRA_SMALL_TALK.items() for t in talk]
    extra += [*EXTRA_CAPITAL_QUESTIONS, *EXTRA_JOINERS, *wider.JOINERS]
    extra += [t for talk in wider.SMALL_TALK.values() for t in talk]
    assert not {norm(t) for t in extra} & held
    assert set(EXTRA_SMALL_TALK) == set(wider.SMALL_TALK) == {intent for intent, _, _, _ in SMALL_TALK}
    # The held-out joiners' words never join training requests.
    assert not any(w in j for j in (*JOINERS[0], *EXTRA_JOINERS, *wider.JOINERS) for w in ("Plus", "Then"))
    # No augmented request is a held-out template verbatim.
    rng = random.Random(7)
    for level in (2, 3, 6, 9):
        for _ in range(200):
            ep = sample_episode(rng, augment=level)
            assert norm(ep.user) not in held


def test_roughened_requests_keep_values_and_intent_and_never_become_held_out() -> None:
    from gossamer.tiny.phrasing import KEYWORDS

    rng = random.Random(5)
    text = "Hey, could you tell me the weather in New York today? Thanks."
    rough = {roughen(text, {"weather", "new", "york"}, rng) for _ in range(300)}
    assert len(rough) > 20  # words really go, case and punctuation really change
    for r in rough:
        assert "weather" in r.lower() and ("New York" in r)
    for _ in range(50):  # words with digits stay (their trailing punctuation may go)
        words = roughen("What is 12.5 / 4?", set(), rng).split()
        assert "12.5" in words and ("4?" in words or "4" in words)
    # Through the generator: a roughened request still carries its values and one of its kind's
    # keywords (when its template had one), and is never a held-out template with its values.
    for _ in range(3000):
        kind = rng.choice(KINDS)
        slots = sample_slots(kind, rng)
        text = _request(kind, slots, rng, held_out=False, augment=3)
        assert not is_held_out_request(kind, text, slots)
        for value in ("city", "order_id", "customer_id", "symbol", "amount", "value"):
            if value in slots:
                assert str(slots[value]) in text
        assert text == " ".join(text.split())  # no empty words left behind
    assert is_held_out_request("weather", "WEATHER  Oslo?", {"city": "Oslo"})
    assert not is_held_out_request("weather", "weather in Oslo", {"city": "Oslo"})
    assert set(KEYWORDS) == set(REQUESTS)
