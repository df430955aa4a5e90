"""The held-out evaluation of the built-in tools (issue 18): does the model choose and use them?

Held-out requests (tiny.builtin_phrasing) played through the server's rendering with the server's
own browser over fresh pages (a real local index), and python answered as tiny.builtins runs it.
Reported per kind of request, as docs/builtin-tools.md asks:

- fact (a question one of the pages answers): search first, open the page about the question's
  city, cite the line that holds the fact on an opened page of that city, state the number;
- missing (no page about the city): search, then say that nothing was found;
- python (arithmetic, a list to sort): call python, print the right value, answer what it printed;
- talk (small talk with the tools on) and no_browser (a fact question without the browser): no
  call, the fitting answer;
- function (a function-tool request with the built-in tools on): the right function, no
  built-in call, the result stated;
- malformed: calls to a recipient outside functions, browser.* and python, or browser calls whose
  arguments are not a JSON object.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from typing import Any

from gossamer.harmony.conversation import ToolCallItem
from gossamer.harmony.render import is_builtin_recipient
from gossamer.tiny.builtin_phrasing import NOTHING_FOUND
from gossamer.tiny.builtins import BuiltinEpisode, builtin_dialogue, run_python, sample_builtin
from gossamer.tiny.data import Episode
from gossamer.tiny.evaluate_dialogues import DialoguePlay, TurnOutcome
from gossamer.tools.protocol import ToolCall

CITATION = re.compile(r"【(\d+)†L(\d+)(?:-L(\d+))?】")
BUILTIN_RECIPIENTS = ("browser.search", "browser.open", "browser.find", "python")


def _turn(ep: BuiltinEpisode) -> Episode:
    """The request as the conversation evaluation's episode (its function calls, its answer)."""
    if ep.episode is not None:
        return ep.episode
    answer = ep.direct_answer if ep.kind in ("talk", "no_browser") else None
    return Episode(
        ep.effort, ep.current_date, None, [], ep.user, direct_answer=answer, no_call_reason=ep.kind
    )


class BuiltinPlay(DialoguePlay):
    """One held-out request with built-in tools, played through the server's rendering."""

    max_steps = 5  # search, open, find, and an answer fit

    def __init__(self, ep: BuiltinEpisode, rng: random.Random) -> None:
        d = builtin_dialogue(ep)
        if ep.episode is None:
            d.turns, d.labels = [_turn(ep)], [ep.kind]
        super().__init__(d, rng)
        self.ep = ep
        self.browser = ep.world.browser() if ep.world is not None else None
        self.pages: dict[int, str] = {}  # cursor -> url of each page the browser showed
        self.printed: list[str] = []  # what python printed, call by call
        self.malformed = 0

    def run_call(self, outcome: TurnOutcome, ep: Episode, call: ToolCallItem) -> dict[str, Any] | str:
        if not is_builtin_recipient(call.name):
            return super().run_call(outcome, ep, call)
        outcome.calls.append((call.name, call.arguments))
        if call.name not in BUILTIN_RECIPIENTS or call.name.split(".")[0] not in self.ep.tools:
            self.malformed += 1
            return f"Unknown tool `{call.name}`."
        if call.name == "python":
            self.printed.append(run_python(call.arguments))
            return self.printed[-1]
        try:
            if not isinstance(json.loads(call.arguments), dict):
                raise ValueError
        except ValueError:
            self.malformed += 1
        assert self.browser is not None
        result = asyncio.run(self.browser.run(ToolCall(call.call_id, call.name, call.arguments)))
        if "cursor" in result.details:
            self.pages[result.details["cursor"]] = result.details["page"].get("url", "")
        return result.output

    def scores(self) -> dict[str, bool]:
        """What this request is scored on (its kind's measures, see the module docstring)."""
        ep, (outcome,) = self.ep, self.outcomes[:1]
        names = [name for name, _ in outcome.calls]
        final = outcome.final or ""
        answered = outcome.well_formed
        if ep.kind == "fact":
            assert ep.world and ep.city and ep.fact
            target = ep.city.lower().replace(" ", "-") + ".md"
            right_pages = {c for c, url in self.pages.items() if url.endswith("/" + target)}
            line = ep.world.page_line(ep.city, ep.fact)
            cited = any(
                int(c) in right_pages and int(a) <= line <= int(b or a) for c, a, b in CITATION.findall(final)
            )
            return {
                "search_first": names[:1] == ["browser.search"],
                "opened_right": bool(right_pages),
                "cited_right": answered and cited,
                "states_fact": answered and str(ep.world.facts[ep.city][ep.fact]) in final,
            }
        if ep.kind == "missing":
            return {
                "searched": "browser.search" in names,
                "says_nothing_found": answered and final.strip() == NOTHING_FOUND,
            }
        if ep.kind == "python":
            assert ep.code is not None
            out = self.printed[-1].strip() if self.printed else None
            return {
                "called_python": names[:1] == ["python"],
                "printed_right": out == run_python(ep.code).strip(),
                "answer_is_output": answered and out is not None and out in final,
            }
        if ep.kind == "function":
            return {
                "right_tool": answered and outcome.right_tools,
                "states_result": bool(outcome.answer_ok),
                "no_builtin_call": not any(is_builtin_recipient(n) for n in names),
            }
        return {"no_call": not names, "fitting": answered and final.strip() == (ep.direct_answer or "")}


def build_builtin_set(num: int, rng: random.Random) -> list[BuiltinPlay]:
    plays = []
    for _ in range(num):
        ep = sample_builtin(rng, held_out=True)
        plays.append(BuiltinPlay(ep, random.Random(rng.getrandbits(64))))
    return plays


def builtin_report(plays: list[BuiltinPlay]) -> dict[str, float]:
    out: dict[str, float] = {
        "conversations": len(plays),
        "well_formed": sum(p.outcomes[0].well_formed for p in plays) / max(1, len(plays)),
        "malformed_calls": sum(p.malformed for p in plays)
        / max(1, sum(len(p.outcomes[0].calls) for p in plays)),
    }
    by_kind: dict[str, list[dict[str, bool]]] = {}
    for p in plays:
        by_kind.setdefault(p.ep.kind, []).append(p.scores())
    for kind, scores in sorted(by_kind.items()):
        out[f"num_{kind}"] = len(scores)
        for key in scores[0]:
            out[f"{kind}_{key}"] = sum(s[key] for s in scores) / len(scores)
    return out


def builtin_failures(plays: list[BuiltinPlay]) -> list[str]:
    lines = []
    for p in plays:
        scores = p.scores()
        if not all(scores.values()):
            o = p.outcomes[0]
            calls = [(name, str(args)[:60]) for name, args in o.calls]
            lines.append(
                f"{p.ep.kind} user={p.ep.user!r} calls={calls} final={o.final!r} problem={o.problem}"
            )
    return lines
