"""Request bodies, parsed and validated off the event loop, within the server's limits.

FastAPI validates a declared body on the event loop: 200,000 messages take seconds, during which
no other client (not even /health) is answered. Routes here take the raw `Request` instead and
call `parse_body`, which runs pydantic's JSON parser and validation in a worker thread; its
parser also refuses, with a clean 400, what Python's `json` would choke on (nesting deeper than
pydantic's limit, lone surrogates, invalid UTF-8). `request_body` keeps each route's body schema
in the OpenAPI description (`/openapi.json`), which clients and the fuzz tests read.
"""

from __future__ import annotations

import asyncio
import time
from functools import cache
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from gossamer.server.errors import invalid_param

T = TypeVar("T")

# Each documented body type, by the component name its schema gets in /openapi.json.
_DOCUMENTED: dict[str, Any] = {}


def _component_name(model: Any) -> str:
    # Two APIs have a ChatMessage (OpenAI's and Ollama's): the API's package names each one.
    api = getattr(model, "__module__", "").split(".")[-2:-1]
    name = getattr(model, "__name__", None) or "Body"
    return f"{api[0]}.{name}" if api else name


def request_body(*models: Any) -> dict[str, Any]:
    """`openapi_extra` for a route that parses its body itself: one model, or alternatives."""
    refs = []
    for model in models:
        name = _component_name(model)
        _DOCUMENTED[name] = model
        refs.append({"$ref": f"#/components/schemas/{name}"})
    schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def install_openapi(app: FastAPI) -> None:
    """Add the self-parsed bodies' schemas (and the models they use) to the app's OpenAPI description."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, model in _DOCUMENTED.items():
                prefix = name.rsplit(".", 1)[0] + "." if "." in name else ""
                ref_template = f"#/components/schemas/{prefix}{{model}}"
                schema = TypeAdapter(model).json_schema(ref_template=ref_template)
                for def_name, definition in schema.pop("$defs", {}).items():
                    components.setdefault(prefix + def_name, definition)
                components[name] = schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# A body with more entries than this validates them this many at a time, letting other threads
# (the event loop) run in between: pydantic holds the GIL for a whole validation (measured here:
# 100,000 messages in 0.9 s; 512 of them take ~3 ms).
CHUNK = 512


@cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def _invalid(errors: list[Any], offset: tuple[Any, ...] = ()) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *offset, *e["loc"])} for e in errors])


def validate_json(model: Any, raw: bytes, items: str | None = None, max_items: int | None = None) -> Any:
    """Parse and validate `raw` as `model`; errors as FastAPI's, located under `body`.

    items: the field holding the request's messages or input items. Beyond `max_items` of them the
    request is refused; beyond CHUNK they are validated a chunk at a time.
    """
    if not raw.strip():
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        data = from_json(raw)
    except ValueError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": str(exc)}]) from None
    entries = data.get(items) if items is not None and isinstance(data, dict) else None
    if isinstance(entries, list) and max_items is not None and len(entries) > max_items:
        raise invalid_param(
            f"'{items}' holds {len(entries)} entries; this server takes at most {max_items} "
            "(--max-items sets the limit).",
            items,
            "too_many_items",
        )
    field = getattr(model, "model_fields", {}).get(items) if items is not None else None
    if not isinstance(entries, list) or len(entries) <= CHUNK or field is None:
        try:
            return _adapter(model).validate_python(data)
        except ValidationError as exc:
            raise _invalid(exc.errors()) from None
    # The request with its first entry, then the other entries a chunk at a time.
    try:
        body = _adapter(model).validate_python({**data, items: entries[:1]})
    except ValidationError as exc:
        raise _invalid(exc.errors()) from None
    validated = list(getattr(body, items))
    entry_list = _adapter(field.annotation)
    for start in range(1, len(entries), CHUNK):
        time.sleep(0)  # let the event loop take the GIL between chunks
        try:
            validated += entry_list.validate_python(entries[start : start + CHUNK])
        except ValidationError as exc:
            shifted = [{**e, "loc": (start + e["loc"][0], *e["loc"][1:])} for e in exc.errors()]
            raise _invalid(shifted, (items,)) from None
    setattr(body, items, validated)
    return body


async def parse_body(
    request: Request, model: type[T] | Any, *, items: str | None = None, empty: bytes | None = None
) -> T:
    """The request's JSON body as `model`, validated in a worker thread.

    items: the field holding the request's list of messages or input items, bounded by `max_items`.
    empty: what an empty body stands for (Ollama's routes read none as `{}`); None: it is missing.
    """
    raw = await request.body()
    if not raw.strip() and empty is not None:
        raw = empty
    max_items = request.app.state.server_state.settings.max_items
    return await asyncio.to_thread(validate_json, model, raw, items, max_items)
