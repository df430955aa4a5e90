"""Hypothesis strategies for the JSON Schemas the structured-output tests send.

Nested objects, arrays with length bounds, enums, integers with ranges, strings with patterns and
lengths, anyOf, required and optional fields, `additionalProperties: false`. Every string, number
and array is bounded, so that a random-weight model, which almost never picks the one token that
closes an open string, still ends its answer well within max_tokens: the tests can then demand
that every answer validates rather than only those that happened to finish.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

NAMES = st.sampled_from(["id", "name", "tags", "size", "kind", "note", "when", "ok", "a b", "ünï"])
PATTERNS = ["^[a-z]{1,5}$", "^[0-9]{3}-[0-9]{2}$", "^(red|green|blue)$", "^[A-Z][a-z]{0,3}$"]


def _integer(bounds: tuple[int, int]) -> dict[str, Any]:
    low, span = bounds
    return {"type": "integer", "minimum": low, "maximum": low + span}


def _string(bounds: tuple[int, int]) -> dict[str, Any]:
    low, span = bounds
    return {"type": "string", "minLength": low, "maxLength": low + span}


LEAVES = st.one_of(
    st.tuples(st.integers(-1000, 1000), st.integers(0, 5000)).map(_integer),
    st.tuples(st.integers(0, 3), st.integers(0, 5)).map(_string),
    st.sampled_from(PATTERNS).map(lambda p: {"type": "string", "pattern": p}),
    st.lists(st.text("abcxyz -", min_size=1, max_size=4), min_size=1, max_size=4, unique=True).map(
        lambda values: {"enum": values}
    ),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.integers(-5, 5).map(lambda n: {"const": n}),
)


def _object(properties: dict[str, Any], required: set[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(required),
        "additionalProperties": False,
    }


def objects(children: st.SearchStrategy) -> st.SearchStrategy[dict[str, Any]]:
    props = st.dictionaries(NAMES, children, min_size=1, max_size=3)
    return props.flatmap(lambda p: st.sets(st.sampled_from(sorted(p))).map(lambda req: _object(p, req)))


def _containers(children: st.SearchStrategy) -> st.SearchStrategy[dict[str, Any]]:
    arrays = st.tuples(children, st.integers(0, 2), st.integers(0, 2)).map(
        lambda t: {"type": "array", "items": t[0], "minItems": t[1], "maxItems": t[1] + t[2]}
    )
    unions = st.lists(children, min_size=2, max_size=2).map(lambda options: {"anyOf": options})
    return st.one_of(objects(children), arrays, unions)


VALUES = st.recursive(LEAVES, _containers, max_leaves=5)
ROOTS = objects(VALUES)  # an answer or a tool's arguments: always an object
