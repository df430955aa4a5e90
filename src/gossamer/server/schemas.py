"""Checks that a JSON schema sent by a client (tool parameters, response_format) is a schema at all."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from gossamer.server.errors import invalid_param


def check_json_schema(schema: Any, param: str, *, must_be_object: bool = False) -> None:
    if not isinstance(schema, dict):
        raise invalid_param("A JSON schema must be an object.", param)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise invalid_param(
            f"Invalid JSON schema{f' at {where}' if where else ''}: {exc.message}", param
        ) from None
    # Tool arguments are always a JSON object; harmony renders them as a TypeScript-like type.
    if must_be_object and schema.get("type", "object") != "object":
        raise invalid_param(f"Tool parameters must describe an object, not {schema.get('type')!r}.", param)
