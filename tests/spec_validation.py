"""Validate what the server sends against OpenAI's published OpenAPI description.

`validate(instance, "CreateChatCompletionResponse")` raises `jsonschema.ValidationError` on a
mismatch. The spec lives in the team's shared folder (`<repo>/../shared/spec/openai-openapi.yaml`);
where it is absent, `require_spec()` skips the calling test. The YAML (~4 s to load) is read once
per process, and OpenAPI 3.0's `nullable: true` is rewritten into JSON Schema first, or legitimate
nulls (a chunk's `finish_reason`) would fail.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO.parent / "shared" / "spec" / "openai-openapi.yaml"
_SPEC_URI = "urn:openai-openapi"


def spec_available() -> bool:
    return SPEC_PATH.is_file()


def require_spec() -> None:
    if not spec_available():
        pytest.skip(f"OpenAI's OpenAPI description is not at {SPEC_PATH}")


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
    import yaml
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    require_spec()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open() as f:
        spec = fix_nullable(yaml.load(f, Loader=loader))
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
