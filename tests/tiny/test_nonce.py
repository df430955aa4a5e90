"""Nonce words (gossamer.tiny.nonce): they replace only words that do not decide the turn, no
template holds one, and training reads them through the unknown row, never as known ids."""

from __future__ import annotations

import random
import re

from gossamer.tiny import frame_phrasing, phrasing, turn_phrasing
from gossamer.tiny import wider_phrasing as wider
from gossamer.tiny.dialogue import sample_dialogue
from gossamer.tiny.nonce import NONCE_WORDS, nonce_added, nonce_ids, with_nonce
from gossamer.tiny.served import training_conversation
from gossamer.tiny.tools import CITIES


def _words(value) -> set[str]:
    if isinstance(value, str):
        return {w.lower() for w in re.findall(r"[A-Za-z]+", value)}
    if isinstance(value, dict):
        return set().union(*(_words(k) | _words(v) for k, v in value.items())) if value else set()
    if isinstance(value, tuple | list):
        return set().union(*(_words(v) for v in value)) if value else set()
    return set()


def test_no_template_or_slot_value_holds_a_nonce_word() -> None:
    modules = (phrasing, turn_phrasing, wider, frame_phrasing)
    texts = [getattr(m, n) for m in modules for n in dir(m) if n.isupper()]
    assert not _words([*texts, list(CITIES)]) & set(NONCE_WORDS)


def test_nonce_words_keep_the_words_that_decide_and_the_values() -> None:
    rng = random.Random(0)
    text = "What is the weather in Oslo right now? Order A1234 too."
    keep = {"weather", "oslo"}
    seen_substitution = seen_insertion = False
    for _ in range(300):
        out = with_nonce(text, keep, rng)
        words = out.split()
        assert "weather" in words and "Oslo" in words and "A1234" in words
        added = [w for w in words if w.strip("?.!,").lower() in NONCE_WORDS]
        assert 1 <= len(added) <= 2
        seen_substitution |= len(words) == len(text.split())
        seen_insertion |= len(words) > len(text.split())
    assert seen_substitution and seen_insertion
    # Only put in, never replacing: every original word stays, in order.
    for _ in range(50):
        out = nonce_added("Repeat that please.", rng).split()
        assert [w for w in out if w.lower() not in NONCE_WORDS] == ["Repeat", "that", "please."]


def test_nonce_ids_never_occur_in_text_without_nonce_words(encoding) -> None:
    nonce = nonce_ids(encoding)
    assert len(nonce) == 4 * len(NONCE_WORDS)  # one token per form
    rng = random.Random(3)
    for _ in range(300):  # level 4: the same generators, no nonce words
        toks, _ = training_conversation(rng, encoding, 4)
        assert not nonce & set(toks)
    for text in (*wider.OUT_OF_SCOPE, *wider.INTRO, *wider.REPEAT, *wider.NAMES):
        assert not nonce & set(encoding.encode(text, allowed_special=set()))


def test_level_six_conversations_hold_nonce_words_only_in_what_users_write(encoding) -> None:
    nonce = nonce_ids(encoding)
    rng = random.Random(5)
    with_nonce_words = 0
    for _ in range(300):
        toks, mask = training_conversation(rng, encoding, 6)
        assert not nonce & {t for t, m in zip(toks, mask, strict=True) if m}
        with_nonce_words += bool(nonce & set(toks))
    assert 60 < with_nonce_words < 240
    # Introductions: half with a name no training conversation holds.
    rng = random.Random(6)
    intros = [sample_dialogue(rng, augment=6, labels=("intro",)).turns[0].user for _ in range(200)]
    unknown = sum(any(w.strip("!.,").lower() in NONCE_WORDS for w in t.split()) for t in intros)
    assert 70 < unknown < 170


def test_level_seven_joins_more_requests_with_a_nonce_word() -> None:
    from gossamer.tiny.data import training_joiners

    rng = random.Random(8)

    def nonce_share(level: int) -> float:
        draws = [rng.choice(training_joiners(level, rng)) for _ in range(2000)]
        return sum(any(w in j.lower() for w in NONCE_WORDS) for j in draws) / len(draws)

    assert nonce_share(6) < 0.15 < 0.3 < nonce_share(7)
