"""Trim OpenAI's OpenAPI description to the schemas the tests validate against, for the repository.

    python scripts/trim_openapi.py FULL_SPEC.yaml [OUT.json]

The full description (~2.9 MB of YAML, ~4 s to load) lives outside the repository; the tests need
only a few hundred of its schemas. This keeps `components.schemas` entries named in `ROOTS` and
every schema they reference, transitively, verbatim (OpenAPI 3.0 `nullable` included: the tests
translate it at load time), and writes them as JSON, which loads in milliseconds. Re-run it on a
newer upstream spec to refresh tests/spec/openai-openapi.json, and update `SOURCE` to match.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "tests" / "spec" / "openai-openapi.json"
REF_PREFIX = "#/components/schemas/"

# What tests/ validates, what a later request-shape check will need, and the Conversations API.
ROOTS = (
    # Chat Completions
    "CreateChatCompletionRequest",
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    # Completions
    "CreateCompletionRequest",
    "CreateCompletionResponse",
    # Models
    "ListModelsResponse",
    "Model",
    # Responses
    "CreateResponse",
    "Response",
    "ResponseStreamEvent",
    "ResponseItemList",
    # Errors
    "ErrorResponse",
    # Conversations
    "ConversationResource",
    "DeletedConversationResource",
    "CreateConversationBody",
    "UpdateConversationBody",
    "ConversationItem",
    "ConversationItemList",
    "InputItem",  # what POST /conversations/{id}/items takes
)

SOURCE = (
    "OpenAI's OpenAPI description of its API (github.com/openai/openai-openapi, upstream commit f85dbe2 "
    "of 2026-08-21, MIT licence), trimmed to the component schemas Gossamer's tests validate against "
    "and everything they reference. Regenerate with scripts/trim_openapi.py."
)


def referenced_names(node: Any) -> set[str]:
    """Names of every `#/components/schemas/...` reference anywhere inside `node`."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                found.add(ref.removeprefix(REF_PREFIX))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def trim(spec: dict[str, Any], roots: tuple[str, ...] = ROOTS) -> dict[str, dict[str, Any]]:
    """The schemas named in `roots` and their transitive references, in the spec's own order."""
    schemas = spec["components"]["schemas"]
    missing = [name for name in roots if name not in schemas]
    if missing:
        raise KeyError(f"not in the spec: {', '.join(missing)}")
    keep: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        todo.extend(referenced_names(schemas[name]) - keep)
    return {name: schema for name, schema in schemas.items() if name in keep}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="the full openai-openapi.yaml")
    parser.add_argument("out", type=Path, nargs="?", default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    import yaml

    with args.spec.open() as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schemas = trim(spec)
    trimmed = {
        "openapi": spec["openapi"],
        "info": {
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "license": spec["info"].get("license"),
            "description": SOURCE,
        },
        "x-trimmed": {"date": datetime.date.today().isoformat(), "roots": list(ROOTS)},
        "components": {"schemas": schemas},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # One schema per line: small diffs when the spec is refreshed, still compact.
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in schemas.items()]
    head = json.dumps({k: v for k, v in trimmed.items() if k != "components"}, indent=2, ensure_ascii=False)
    text = head[:-2] + ',\n"components": {"schemas": {\n' + ",\n".join(lines) + "\n}}\n}\n"
    assert json.loads(text) == trimmed
    args.out.write_text(text)
    print(f"{len(schemas)} of {len(spec['components']['schemas'])} schemas -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
