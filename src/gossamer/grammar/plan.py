"""From a request to the engine's constraint: which grammar a turn or a raw completion gets.

A turn (Chat Completions, Responses, Ollama, `LLM.chat`) is constrained when it offers tools, asks
for an answer format, or sets a reasoning budget; anything else runs unconstrained and pays
nothing. Everything that can be wrong with the request is found here, in `prepare`, before any
token: a `ConstraintError` says which part (the answer format or which tool).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from gossamer.engine.protocol import SamplingParams, StructuredOutputs
from gossamer.grammar.compile import GrammarCompileError, grammar_cache
from gossamer.grammar.constraint import HarmonyConstraintFactory, HarmonyGrammars, RawConstraintFactory
from gossamer.grammar.errors import ConstraintError
from gossamer.grammar.formats import FormatError, OutputFormat, to_subgrammar
from gossamer.grammar.harmony import HarmonySpec, ToolSpec, grammar_text
from gossamer.grammar.tokenizer import EOS_NAME
from gossamer.harmony.conversation import Conversation
from gossamer.harmony.render import RenderedPrompt
from gossamer.harmony.tokenizer import token_table

logger = logging.getLogger(__name__)

# Chain-of-thought tokens a constrained reply may spend before its analysis is closed, per effort.
# Generous: gpt-oss-20b's reasoning at high effort runs to several thousand tokens; the budget is
# there for a model that would never stop, not to trim a real one.
REASONING_BUDGETS = {"low": 2048, "medium": 8192, "high": 32768}


def answer_format(conv: Conversation, params: SamplingParams) -> OutputFormat | None:
    """The final answer's shape: the API's response format, else vLLM's structured_outputs."""
    if conv.response_format is not None:
        return from_response_format(conv.response_format)
    if params.structured_outputs is not None:
        return from_structured_outputs(params.structured_outputs)
    return None


def from_response_format(fmt: dict[str, Any]) -> OutputFormat | None:
    kind = fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return OutputFormat("json_object")
    if kind != "json_schema":
        raise ConstraintError(f"unknown response format type {kind!r}", "answer")
    spec = fmt.get("json_schema", fmt)  # Chat Completions nests it; Responses does not
    try:
        return OutputFormat.json(spec.get("schema") or {}, strict=bool(spec.get("strict")))
    except FormatError as exc:
        raise ConstraintError(str(exc), "answer") from None


def from_structured_outputs(so: StructuredOutputs) -> OutputFormat:
    given = [name for name in ("json", "regex", "choice", "grammar") if getattr(so, name) is not None]
    given += ["json_object"] if so.json_object else []
    if len(given) != 1:
        raise ConstraintError(
            f"structured outputs take exactly one of json, json_object, regex, choice or grammar, got "
            f"{', '.join(given) or 'none'}", "answer")
    try:
        if so.json is not None:
            return OutputFormat.json(so.json)
    except FormatError as exc:
        raise ConstraintError(str(exc), "answer") from None
    if so.json_object:
        return OutputFormat("json_object")
    if so.regex is not None:
        return OutputFormat("regex", pattern=so.regex)
    if so.choice is not None:
        return OutputFormat("choice", choices=tuple(so.choice))
    return OutputFormat("grammar", grammar=so.grammar)


def reasoning_budget(conv: Conversation, params: SamplingParams) -> int:
    budget = params.thinking_token_budget
    if budget is None:
        budget = REASONING_BUDGETS.get(conv.reasoning_effort, REASONING_BUDGETS["medium"])
        if params.max_tokens is not None:
            budget = min(budget, params.max_tokens // 2)  # leave the answer room within max_tokens
    return max(0, budget)


def turn_constraint(
    conv: Conversation, rendered: RenderedPrompt, params: SamplingParams
) -> HarmonyConstraintFactory | None:
    """The constraint of one turn, or None when nothing asks for one. Raises ConstraintError."""
    answer = answer_format(conv, params)
    offers_tools = conv.tools or conv.builtin_tools or conv.function_namespaces
    if answer is None and not offers_tools and params.thinking_token_budget is None:
        return None
    if rendered.stop_after_message:
        return None  # one message at a time: the caller drives the turn itself
    choice = conv.tool_choice
    named = choice.get("name") if isinstance(choice, dict) else None
    # The request's functions, then other namespaces' (an MCP server's tools: never strict).
    offered = [("functions", t) for t in conv.tools]
    offered += [(ns.name, t) for ns in conv.function_namespaces for t in ns.tools]
    tools = tuple(ToolSpec(t.name, _tool_format(t.parameters, t.strict), ns) for ns, t in offered)
    spec = HarmonySpec(
        answer=answer,
        tools=tools,
        builtin_tools=tuple(conv.builtin_tools),
        tool_choice="auto" if named else choice,  # type: ignore[arg-type]
        named=named,
    )
    if answer is not None:
        _check(answer, "answer", None, lenient=True)
    fallbacks = frozenset(
        i for i, tool in enumerate(tools)
        if tool.parameters is not None
        and not _compiles(tool.parameters, i, strict=bool(offered[i][1].strict))
    )
    variants = ("full", "direct", "tail")
    grammars = HarmonyGrammars(*(grammar_text(spec, v, tool_fallbacks=fallbacks) for v in variants))
    budget = reasoning_budget(conv, params)
    try:  # the grammar each sequence starts with (the engine compiles the tail when it needs it)
        grammar_cache().check(grammars.direct if budget == 0 else grammars.full)
    except GrammarCompileError as exc:  # the parts compiled alone: their combination should too
        raise ConstraintError(f"the reply grammar does not compile: {exc}", "answer") from None
    # The reply's tokens already in the prompt, after its <|start|>: `assistant`, or a call header.
    prefill = tuple(rendered.prefill_ids[1:])
    return HarmonyConstraintFactory(grammars, prefill, budget)


def completion_constraint(so: StructuredOutputs) -> RawConstraintFactory:
    """A raw completion held to vLLM's structured outputs. Raises ConstraintError."""
    fmt = from_structured_outputs(so)
    grammar = _standalone(fmt, "answer", None, lenient=True)
    return RawConstraintFactory(grammar)


def constrain_completion(params: SamplingParams) -> SamplingParams:
    """`params` with the constraint its structured_outputs ask for, ending on `<|endoftext|>` (the
    grammar's end), as `LLM.generate` and /v1/completions run it. Raises ConstraintError."""
    if params.structured_outputs is None or params.constraint is not None:
        return params
    eos = token_table().special_ids[EOS_NAME]
    stops = params.stop_token_ids if eos in params.stop_token_ids else (*params.stop_token_ids, eos)
    return dataclasses.replace(
        params, constraint=completion_constraint(params.structured_outputs), stop_token_ids=stops
    )


def _tool_format(parameters: dict[str, Any] | None, strict: bool | None) -> OutputFormat | None:
    if parameters is None:
        return None
    return OutputFormat("json_schema", schema=parameters, strict=bool(strict))


def _compiles(fmt: OutputFormat, index: int, *, strict: bool) -> bool:
    """Whether a tool's schema compiles; a strict tool's that does not is the client's error."""
    try:
        _check(fmt, "tool", index, lenient=not strict)
        return True
    except ConstraintError as exc:
        if strict:
            raise
        logger.warning("tool %d: parameters not enforceable (%s); any JSON object is allowed", index, exc)
        return False


def _check(fmt: OutputFormat, target: str, index: int | None, *, lenient: bool) -> None:
    _standalone(fmt, target, index, lenient=lenient)


def _standalone(fmt: OutputFormat, target: str, index: int | None, *, lenient: bool) -> str:
    try:
        grammar = json.dumps({"grammars": [to_subgrammar(fmt, "start", lenient=lenient)]})
        grammar_cache().check(grammar)
    except (FormatError, GrammarCompileError) as exc:
        raise ConstraintError(_describe(fmt, exc), target, index) from None  # type: ignore[arg-type]
    return grammar


def _describe(fmt: OutputFormat, exc: Exception) -> str:
    what = {"json_schema": "JSON schema", "json_object": "JSON schema", "regex": "regular expression",
            "choice": "choice", "grammar": "grammar"}.get(fmt.kind, "format")
    return f"the {what} cannot be enforced: {exc}"
