"""Validate what the server sends against OpenAI's published OpenAPI description.

`validate(instance, "CreateChatCompletionResponse")` raises `jsonschema.ValidationError` on a
mismatch. The schemas come from tests/spec/openai-openapi.json: OpenAI's description trimmed to
the schemas the tests use and everything they reference (its `info` says which upstream commit;
scripts/trim_openapi.py regenerates it), so validation runs on any clone. It is read once per
process, and OpenAPI 3.0's `nullable: true` is rewritten into JSON Schema first, or legitimate
nulls (a chunk's `finish_reason`) would fail.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parent / "spec" / "openai-openapi.json"
_SPEC_URI = "urn:openai-openapi"


def fix_nullable(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` -> JSON Schema: `[T, "null"]` types, or `anyOf` with null."""
    if isinstance(node, list):
        return [fix_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: fix_nullable(value) for key, value in node.items()}
    if out.pop("nullable", False) is not True:
        return out
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(kind, list):
        out["type"] = [*kind, "null"] if "null" not in kind else kind
        return out
    return {"anyOf": [out, {"type": "null"}]}


@lru_cache(maxsize=1)
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = fix_nullable(json.loads(SPEC_PATH.read_text()))
    resource = Resource(contents=spec, specification=DRAFT202012)
    return Registry().with_resource(_SPEC_URI, resource)


@cache
def validator(schema_name: str) -> Any:
    from jsonschema import Draft202012Validator

    registry = _registry()
    return Draft202012Validator({"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}, registry=registry)


def validate(instance: Any, schema_name: str) -> None:
    """Raise the most relevant `ValidationError` if `instance` does not match the named schema."""
    from jsonschema.exceptions import best_match

    error = best_match(validator(schema_name).iter_errors(instance))
    if error is not None:
        raise error
