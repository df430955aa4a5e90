"""Word classes: the surface forms of one word in o200k share an input row in gossamer-tiny.

o200k has separate tokens for "weather", " weather", "Weather" and " Weather". A corpus of a few
tens of thousands of templated conversations holds only some of them, and every other form used
to fall into the shared "unknown word" row: a user who typed "weather Oslo" (no leading space, so
the token "weather") asked the model about an unknown word and Oslo.

A token's class is its text with surrounding whitespace removed, in lower case. Training keeps one
extra embedding row per class of the words it saw and, now and then, feeds a prompt token through
its class row instead of its own (`CLASS_DROPOUT` in gossamer.tiny.train), so the class row
learns to mean "this word, in some form". Export gives every id the model never saw, but whose
class it knows, the class row. Output rows are not shared: the model only ever writes the exact
tokens it was trained to write.
"""

from __future__ import annotations

from functools import lru_cache

from gossamer.harmony.tokenizer import NUM_BASE_RANKS, VOCAB_SIZE, token_table


def canonical(token: bytes) -> str | None:
    """The class of a token's text, or None where it has none (whitespace, partial UTF-8)."""
    try:
        text = token.decode("utf-8")
    except UnicodeDecodeError:
        return None
    key = text.strip().lower()
    return key or None


@lru_cache(maxsize=1)
def token_classes() -> tuple[str | None, ...]:
    """The class of every id in the full vocabulary (special and reserved ids have none)."""
    table = token_table().token_bytes
    return tuple(
        canonical(table[i]) if i < NUM_BASE_RANKS and table[i] is not None else None
        for i in range(VOCAB_SIZE)
    )


def classes_of(ids: list[int]) -> list[str]:
    """The sorted classes that `ids` fall into."""
    names = token_classes()
    return sorted({names[i] for i in ids if names[i] is not None})
