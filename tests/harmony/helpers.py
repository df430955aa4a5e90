"""Shared helpers for the harmony tests: model output written as text, deterministic call ids."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from gossamer.harmony.tokenizer import load_harmony_encoding


def ids(text: str) -> list[int]:
    """Token ids of model output spelled as text (special-token names become control tokens)."""
    return load_harmony_encoding().encode(text, allowed_special="all")


def counter_ids() -> Callable[[], str]:
    """call_0, call_1, ...: streamed and non-streamed decodes must agree on ids to be compared."""
    counter = itertools.count()
    return lambda: f"call_{next(counter)}"
