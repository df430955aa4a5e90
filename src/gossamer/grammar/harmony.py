"""The grammar of one assistant reply in harmony, built from what the request allows.

The reply begins after the prompt's `<|start|>` (the role is the grammar's first word, so a
prefilled call header is simply consumed by it). Thoughts stay free; what ends the turn is held
to the request:

    start:   "assistant" reply            (thoughts allowed; the "direct" variant has none)
    reply:   (analysis NEXT)* final  |  (thought NEXT)* call    (NEXT: <|end|> <|start|> "assistant")
    thought: analysis | preamble          (<|channel|>analysis or commentary <|message|> TEXT)
    call:    call_i | builtin             (as tool_choice allows; a preamble only leads to a call)
    final:   <|channel|>final<|message|> @answer <|return|>
    call_i:  the header of a call to offered function i, in either of the places harmony puts the
             recipient (after the channel, as the model writes it; beside the role, as history
             and a prefilled tool_choice render it), then <|message|> @args_i <|call|>; the
             functions of other namespaces (an MCP server's `docs.search`) are calls like these

A third variant, "tail" (`<|start|> "assistant" ending`), is what the constraint switches to once
the reasoning budget is spent (constraint.py). The engine stops at `<|return|>` and `<|call|>`,
so a turn holds at most one call: `parallel_tool_calls: false` always holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from gossamer.grammar.formats import OutputFormat, to_subgrammar

Variant = Literal["full", "direct", "tail"]
# gpt-oss's built-in tools, as harmony addresses them (the reference implementation's names).
BUILTIN_RECIPIENTS = {"browser": ("browser.search", "browser.open", "browser.find"), "python": ("python",)}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    parameters: OutputFormat | None  # None: any JSON object
    namespace: str = "functions"  # another for an MCP server's tools: the call goes to `docs.search`

    @property
    def recipient(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class HarmonySpec:
    """What a reply may contain."""

    answer: OutputFormat | None = None  # None: free text
    tools: tuple[ToolSpec, ...] = ()
    builtin_tools: tuple[str, ...] = ()
    tool_choice: Literal["auto", "none", "required"] = "auto"
    named: str | None = None  # tool_choice names this function: the reply must call it


def grammar_text(spec: HarmonySpec, variant: Variant, *, tool_fallbacks: frozenset[int] = frozenset()) -> str:
    """The llguidance grammar (a JSON grammar list) for `spec`; tools in `tool_fallbacks` take any
    JSON object (their schema could not be compiled and the tool is not strict)."""
    starts = {
        "full": 'start: "assistant" reply',
        "direct": 'start: "assistant" ending',
        "tail": 'start: <|start|> "assistant" ending',
    }
    lines = [
        "%llguidance {}",
        starts[variant],
        'analysis: <|channel|> "analysis" <|message|> TEXT <|end|> <|start|> "assistant"',
        'thought: analysis | <|channel|> "commentary" <|message|> TEXT <|end|> <|start|> "assistant"',
        "TEXT: /(?s:.*)/",
    ]
    grammars: list[dict] = []
    endings: list[str] = []
    calls = _callable_tools(spec)
    answers = spec.tool_choice != "required" and spec.named is None
    if answers:
        endings.append("final")
        if spec.answer is None:
            lines.append('final: <|channel|> "final" <|message|> TEXT <|return|>')
        else:
            lines.append('final: <|channel|> "final" <|message|> @answer <|return|>')
            grammars.append(to_subgrammar(spec.answer, "answer", lenient=True))
    if calls:
        lines += [
            'CALL_CHANNEL: "commentary" | "analysis"',
            'content_type: " " <|constrain|> "json" | " json"',
        ]
    for i in calls:
        tool = spec.tools[i]
        to = json.dumps(f" to={tool.recipient}")
        lines.append(
            f"call_{i}: (<|channel|> CALL_CHANNEL {to} | {to} <|channel|> CALL_CHANNEL) content_type? "
            f"<|message|> @args_{i} <|call|>"
        )
        endings.append(f"call_{i}")
        params = tool.parameters
        if params is None or i in tool_fallbacks:
            params = OutputFormat("json_object")
        # Unknown keywords are skipped unless the tool is strict (OutputFormat.strict overrides this).
        grammars.append(to_subgrammar(params, f"args_{i}", lenient=True))
    recipients = [r for tool in spec.builtin_tools for r in BUILTIN_RECIPIENTS.get(tool, ())]
    if recipients and spec.tool_choice == "auto":
        to_any = " | ".join(json.dumps(f" to={r}") for r in recipients)
        lines += [
            f"BUILTIN_TO: {to_any}",
            'builtin: (<|channel|> "analysis" BUILTIN_TO | BUILTIN_TO <|channel|> "analysis") " code"? '
            "<|message|> TEXT <|call|>",
        ]
        endings.append("builtin")
    lines.append("ending: " + " | ".join(endings))
    # Before an answer only analysis: a preamble (commentary) belongs to a turn that calls a tool,
    # and an API would show it as part of the answer.
    replies = (["analysis* final"] if answers else []) + (["thought* call"] if len(endings) > answers else [])
    lines.append("reply: " + " | ".join(replies))
    if len(endings) > answers:
        lines.append("call: " + " | ".join(endings[answers:]))
    return json.dumps({"grammars": [{"lark_grammar": "\n".join(lines)}, *grammars]})


def _callable_tools(spec: HarmonySpec) -> list[int]:
    """Indexes of the functions the reply may call."""
    if spec.tool_choice == "none":
        return []
    if spec.named is not None:
        return [i for i, t in enumerate(spec.tools) if t.name == spec.named and t.namespace == "functions"]
    return list(range(len(spec.tools)))
