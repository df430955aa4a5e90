"""The shapes a request can ask its output to take, as llguidance sub-grammars.

One `OutputFormat` is what every API's field becomes: Chat's `response_format`, Responses'
`text.format`, Ollama's `format`, vLLM's `structured_outputs` / `guided_*` fields, a tool's
`parameters`. `to_subgrammar` turns it into an llguidance grammar entry that a harmony grammar
(harmony.py) references by name, or that stands alone for a raw completion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from llguidance.gbnf_to_lark import any_to_lark

from gossamer.grammar.strict import check_strict

FormatKind = Literal["json_schema", "json_object", "regex", "choice", "grammar", "text"]

# JSON as models write it: compact (`{"city":"Paris"}`, gpt-oss's tool calls) or with one space after
# `:` and `,` (`json.dumps`'s default, which gossamer-tiny learned); forcing either derails the other.
# Never free whitespace, which a model at temperature 1.0 could spend its whole budget on.
_JSON_OPTIONS = {"whitespace_flexible": False, "whitespace_pattern": " ?"}


class FormatError(ValueError):
    """The format cannot be enforced as given (bad schema, regex or grammar)."""


@dataclass(frozen=True)
class OutputFormat:
    kind: FormatKind
    schema: dict[str, Any] | None = None  # json_schema
    strict: bool = False  # json_schema: OpenAI's strict (refuse what cannot be enforced)
    pattern: str | None = None  # regex (Rust regex syntax, as vLLM's guided_regex)
    choices: tuple[str, ...] = ()  # choice: exactly one of these strings
    grammar: str | None = None  # grammar: Lark (llguidance's dialect) or GBNF (llama.cpp's)

    @classmethod
    def json(cls, schema: dict[str, Any] | str, strict: bool = False) -> OutputFormat:
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except json.JSONDecodeError as exc:
                raise FormatError(f"the JSON schema is not valid JSON: {exc}") from None
        if not isinstance(schema, dict):
            raise FormatError("a JSON schema must be an object")
        return cls("json_schema", schema=schema, strict=strict)


def to_subgrammar(fmt: OutputFormat, name: str, *, lenient: bool) -> dict[str, Any]:
    """An entry of llguidance's grammar list, named `name`. Raises FormatError (strict violations,
    a grammar that cannot be converted); whether it compiles is compile.py's to find out."""
    entry: dict[str, Any] = {"name": name}
    if fmt.kind in ("json_schema", "json_object"):
        schema = fmt.schema if fmt.kind == "json_schema" and fmt.schema is not None else {"type": "object"}
        if fmt.strict:
            try:
                check_strict(schema)
            except ValueError as exc:
                raise FormatError(str(exc)) from None
        options = {**_JSON_OPTIONS, "lenient": lenient and not fmt.strict}
        entry["json_schema"] = {**schema, "x-guidance": options}
    elif fmt.kind == "regex":
        entry["lark_grammar"] = _lark_of(json.loads(_regex_grammar(fmt.pattern or "")))
    elif fmt.kind == "choice":
        if not fmt.choices:
            raise FormatError("a choice needs at least one string")
        entry["lark_grammar"] = "start: " + " | ".join(json.dumps(c) for c in fmt.choices)
    elif fmt.kind == "grammar":
        entry["lark_grammar"] = _to_lark(fmt.grammar or "")
    else:
        entry["lark_grammar"] = "start: TEXT\nTEXT: /(?s:.*)/"
    return entry


def _regex_grammar(pattern: str) -> str:
    from llguidance import LLMatcher

    return LLMatcher.grammar_from_regex(pattern)


def _lark_of(grammar: dict[str, Any]) -> str:
    return grammar["grammars"][0]["lark_grammar"]


def _to_lark(text: str) -> str:
    """Lark as is; llama.cpp's GBNF (`root ::= ...`) converted, as vLLM and llguidance accept both."""
    if "::=" not in text:
        return text
    try:
        return any_to_lark(text)
    except Exception as exc:  # the converter raises plain Exceptions on bad GBNF
        raise FormatError(f"the GBNF grammar cannot be read: {exc}") from None
