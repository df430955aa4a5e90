"""Level 9's shared frames (gossamer.tiny.frame_phrasing): never a held-out template, not even one
with a word swapped, and used where level 9 says."""

from __future__ import annotations

import random
import re

from gossamer.tiny import frame_phrasing as frames
from gossamer.tiny.data import training_joiners
from gossamer.tiny.dialogue import sample_dialogue
from gossamer.tiny.phrasing import JOINERS, SMALL_TALK
from gossamer.tiny.turn_phrasing import AGAIN, INTRO, OUT_OF_SCOPE, REPEAT, THERE


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z{}']+", text.lower())


def _held_out() -> list[str]:
    held = [*OUT_OF_SCOPE[1], *INTRO[1], *REPEAT[1], *JOINERS[1]]
    held += [t for _, _, h, _ in SMALL_TALK for t in h]
    held += [t for variants in AGAIN.values() for _, _, h in variants for t in h]
    return held + [t for _, h in THERE.values() for t in h]


def _skeletons(template: str) -> set[tuple[str, ...]]:
    """The template's words with slots as "_", and every form of it with one more word as "_"."""
    words = tuple("_" if w.startswith("{") else w for w in _words(template))
    return {words} | {(*words[:i], "_", *words[i + 1 :]) for i in range(len(words))}


def test_no_frame_is_a_held_out_template_even_with_a_word_swapped() -> None:
    held = set().union(*(_skeletons(t) for t in _held_out()))
    mine = [*frames.OUT_OF_SCOPE_FRAMES, *frames.INTRO, *frames.JOINERS]
    for template in mine:
        words = tuple("_" if w.startswith("{") else w for w in _words(template))
        assert words not in held, template
    # The held-out joiners' words never join training requests, nor open a follow-up.
    assert not any(w in _words(j) for j in frames.JOINERS for w in ("plus", "then"))
    assert not any(m.lower().startswith(("could", "how about")) for m in frames.MODALS)


def test_polite_follow_ups_open_imperatives_only() -> None:
    rng = random.Random(0)
    assert frames.polite("And in Oslo?", rng) == "And in Oslo?"
    outs = {frames.polite("Try Oslo.", rng) for _ in range(100)}
    assert "Would you try Oslo?" in outs and "Kindly try Oslo." in outs
    assert all(o.endswith("?") == (o.split()[1] == "you") for o in outs)


def test_level_nine_uses_the_frames_and_earlier_levels_do_not() -> None:
    def turns(level: int) -> list[str]:
        rng = random.Random(5)
        return [ep.user for _ in range(1500) for ep in sample_dialogue(rng, augment=level).turns]

    def pattern(frame: str) -> str:
        return re.sub(r"\\\{\w+\\\}", r"\\w[\\w ]*", re.escape(frame))

    exact = re.compile("|".join(pattern(f) for f in (*frames.OUT_OF_SCOPE_FRAMES, *frames.INTRO)))

    def framed(users: list[str]) -> int:
        return sum(bool(exact.fullmatch(u)) for u in users)

    nine, seven = turns(9), turns(7)
    assert framed(nine) > 5 * framed(seven)  # level 7 matches a few: "Tell me the capital of Peru."
    assert any(u.startswith(("Would you", "Can you", "Kindly")) for u in nine)

    rng = random.Random(8)
    draws = [rng.choice(training_joiners(9, rng)) for _ in range(2000)]
    assert 0.1 < sum(j in frames.JOINERS for j in draws) / len(draws) < 0.4
    assert not any(j in frames.JOINERS for j in (rng.choice(training_joiners(7, rng)) for _ in range(500)))
