"""Stop strings cut decoded text, even when a stop string spans several deltas."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gossamer.turn.stop_strings import StopMatcher


def run(pieces: list[str], stops: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.push(p) for p in pieces)
    return out + matcher.flush(), matcher.stopped


def test_stop_spanning_pieces() -> None:
    assert run(["Hello wo", "rld, and", " more"], ["world"]) == ("Hello ", True)


def test_held_back_text_is_released_when_no_match() -> None:
    matcher = StopMatcher(["world"])
    assert matcher.push("Hello wor") == "Hello "
    assert matcher.push("k") == "work"
    assert matcher.flush() == ""


def test_earliest_stop_wins() -> None:
    assert run(["a b c d"], ["c", "b"]) == ("a ", True)


@given(st.text(alphabet="abxy", max_size=30), st.lists(st.integers(1, 5), max_size=10))
def test_same_result_however_the_text_is_split(text: str, cuts: list[int]) -> None:
    pieces, rest = [], text
    for cut in cuts:
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    expected_index = text.find("xy")
    expected = (text, False) if expected_index < 0 else (text[:expected_index], True)
    assert run(pieces, ["xy"]) == expected
