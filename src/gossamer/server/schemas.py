"""Checks that a JSON schema sent by a client (tool parameters, response_format) is a schema at all."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from gossamer.server.errors import invalid_param

# jsonschema's metaschema check recurses about eight frames per level (a schema nested ~120 deep
# ran out of Python's stack: a 500) and costs ~0.5 ms per object or array on this host (20,000 of
# them held the GIL for 11 s). Larger schemas skip it: the turn's schema limits (--max-schema-depth,
# --max-schema-nodes) and the grammar compiler still refuse what is too large or not a schema.
MAX_CHECKED_DEPTH = 64
MAX_CHECKED_NODES = 1000


def _within(schema: Any, max_depth: int, max_nodes: int) -> bool:
    """Whether `schema` has at most `max_depth` levels and `max_nodes` objects and arrays (iterative,
    stopping at the first bound passed)."""
    stack: list[tuple[Any, int]] = [(schema, 1)]
    num_nodes = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            num_nodes += 1
            if depth > max_depth or num_nodes > max_nodes:
                return False
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return True


def check_json_schema(schema: Any, param: str, *, must_be_object: bool = False) -> None:
    if not isinstance(schema, dict):
        raise invalid_param("A JSON schema must be an object.", param)
    try:
        if _within(schema, MAX_CHECKED_DEPTH, MAX_CHECKED_NODES):
            Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise invalid_param(
            f"Invalid JSON schema{f' at {where}' if where else ''}: {exc.message}", param
        ) from None
    # Tool arguments are always a JSON object; harmony renders them as a TypeScript-like type.
    if must_be_object and schema.get("type", "object") != "object":
        raise invalid_param(f"Tool parameters must describe an object, not {schema.get('type')!r}.", param)
