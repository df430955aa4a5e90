"""vLLM's structured-output request fields, shared by /v1/completions and /v1/chat/completions.

vLLM takes `structured_outputs: {json | regex | choice | grammar | json_object}` and, from its
older releases, `guided_json`, `guided_regex`, `guided_choice`, `guided_grammar`; code written for
vLLM sends either, so both are read here into the engine's `StructuredOutputs`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json

from gossamer.engine.protocol import StructuredOutputs
from gossamer.server.errors import invalid_param


class StructuredOutputsField(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    # `json` would shadow BaseModel.json: the field is json_, read and written as "json"
    json_: dict[str, Any] | str | None = Field(default=None, alias="json")
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None


class GuidedFields(BaseModel):
    """Mixed into a request model: the fields, with the request's own extra handling."""

    structured_outputs: StructuredOutputsField | None = None
    guided_json: dict[str, Any] | str | None = None
    guided_regex: str | None = None
    guided_choice: list[str] | None = None
    guided_grammar: str | None = None


def to_structured_outputs(request: GuidedFields) -> StructuredOutputs | None:
    """The request's structured outputs, or None; a 400 naming the field when several are given."""
    so = request.structured_outputs
    guided = {
        "guided_json": request.guided_json,
        "guided_regex": request.guided_regex,
        "guided_choice": request.guided_choice,
        "guided_grammar": request.guided_grammar,
    }
    given = [name for name, value in guided.items() if value is not None]
    if so is not None:
        given.append("structured_outputs")
    if not given:
        return None
    if len(given) > 1:
        raise invalid_param(f"Give one structured output, not {', '.join(given)}.", given[-1])
    if so is not None:
        return StructuredOutputs(
            json=_parsed_schema(so.json_, "structured_outputs.json"),
            json_object=bool(so.json_object),
            regex=so.regex,
            choice=tuple(so.choice) if so.choice is not None else None,
            grammar=so.grammar,
        )
    return StructuredOutputs(
        json=_parsed_schema(request.guided_json, "guided_json"),
        regex=request.guided_regex,
        choice=tuple(request.guided_choice) if request.guided_choice is not None else None,
        grammar=request.guided_grammar,
    )


def _parsed_schema(schema: dict[str, Any] | str | None, param: str) -> dict[str, Any] | str | None:
    """A schema sent as a JSON string, parsed here with the body's own parser: Python's `json` would
    recurse through a string nested thousands deep and fail with RecursionError (a 500)."""
    if not isinstance(schema, str):
        return schema
    try:
        return from_json(schema)
    except ValueError as exc:
        raise invalid_param(f"The JSON schema in '{param}' cannot be read: {exc}.", param) from None


def structured_param(request: GuidedFields) -> str:
    """The field a ConstraintError about these outputs is reported on."""
    for name in ("guided_json", "guided_regex", "guided_choice", "guided_grammar"):
        if getattr(request, name) is not None:
            return name
    so = request.structured_outputs
    if so is not None:
        for name in ("json", "regex", "choice", "grammar"):
            if getattr(so, "json_" if name == "json" else name) is not None:
                return f"structured_outputs.{name}"
    return "structured_outputs"
