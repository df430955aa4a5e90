"""OpenAI's `strict: true` rules for a JSON Schema, checked before anything is compiled.

OpenAI's structured outputs accept, under strict, a subset of JSON Schema and two structural
rules: every object lists all its properties in `required` (optional fields are a union with
null) and sets `additionalProperties: false`. A schema outside that is refused with a 400 that
names the place (a JSON pointer) and the keyword. Keywords we enforce beyond OpenAI's list
(string lengths, say) are accepted: the constraint guarantees them too.
"""

from __future__ import annotations

from typing import Any

# Keywords whose meaning the grammar enforces, and annotations that constrain nothing.
ENFORCED = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf",
    "$ref", "$defs", "definitions", "pattern", "format", "minLength", "maxLength", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
})
ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
    "readOnly", "writeOnly",
})
# The string formats OpenAI lists for strict mode (llguidance implements each of them).
FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
_SCHEMA_MAPS = ("properties", "$defs", "definitions")


class StrictViolation(ValueError):
    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{message} (at {pointer or '/'})")
        self.pointer = pointer


def check_strict(schema: Any, *, root_object: bool = True) -> None:
    """Raise StrictViolation where `schema` breaks OpenAI's strict rules."""
    if root_object and (not isinstance(schema, dict) or schema.get("type") != "object"):
        raise StrictViolation("", 'under strict, the root of the schema must be {"type": "object", ...}')
    _check(schema, "")


def _check(node: Any, pointer: str) -> None:
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise StrictViolation(pointer, "a schema must be an object")
    for key in node:
        if key not in ENFORCED and key not in ANNOTATIONS:
            raise StrictViolation(pointer, f"strict mode does not support the keyword {key!r}")
    if "format" in node and node["format"] not in FORMATS:
        raise StrictViolation(pointer, f"strict mode does not support the string format {node['format']!r}")
    types = node.get("type")
    is_object = types == "object" or (isinstance(types, list) and "object" in types) or "properties" in node
    if is_object:
        if node.get("additionalProperties", True) is not False:
            raise StrictViolation(pointer, 'under strict, each object must set "additionalProperties": false')
        missing = [name for name in node.get("properties", {}) if name not in node.get("required", [])]
        if missing:
            raise StrictViolation(
                pointer,
                f"under strict, every property must be required (missing: {', '.join(map(repr, missing))}); "
                "make an optional field a union with null",
            )
    for key in _SCHEMA_MAPS:
        for name, sub in (node.get(key) or {}).items():
            _check(sub, f"{pointer}/{key}/{_escape(name)}")
    if isinstance(node.get("items"), dict | bool):
        _check(node["items"], f"{pointer}/items")
    for i, sub in enumerate(node.get("anyOf") or []):
        _check(sub, f"{pointer}/anyOf/{i}")


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")
