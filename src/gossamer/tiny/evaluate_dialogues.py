"""The held-out evaluation beyond single requests: conversations, dropped reasoning, scope.

Each set is played the way a client of gossamer's server plays it: every request carries the whole
conversation so far, rendered by the server's renderer (`tiny.served`), the called tools run, their
results go back, and a turn ends on a final answer; then the next user turn follows. Sets:

- multi: held-out dialogues of 2-5 turns (`tiny.dialogue`, held-out follow-up templates);
- dropped: held-out single tool requests from a client that drops the reasoning before each call;
- scope: held-out requests no tool serves, introductions and small talk;
- mcp: held-out dialogues of 1-5 turns whose tools (some or all) an MCP server offers in its own
  namespace, named by held-out names (tiny.mcp): the recipient must be exactly `NAMESPACE.TOOL`.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from openai_harmony import HarmonyEncoding

from gossamer.harmony.conversation import Message, ToolCallItem
from gossamer.tiny.data import Episode, sample_episode
from gossamer.tiny.dialogue import Dialogue, sample_dialogue
from gossamer.tiny.evaluate import CALL, args_match_schema, parse_step
from gossamer.tiny.mcp import called_name, with_namespaces
from gossamer.tiny.phrasing import SMALL_TALK
from gossamer.tiny.served import api_messages, episode_dialogue, prompt_ids, text_of, tool_message
from gossamer.tiny.tools import answer_values, simulate
from gossamer.tiny.turn_phrasing import INTRO_ANSWER

MAX_TURN_STEPS = 4  # sampled steps per turn (as the single-request evaluation allows)
GREETING = next(answer for intent, _, _, answer in SMALL_TALK if intent == "greet")
MCP_TURNS = (1, 1, 2, 3)  # the mcp set: first requests weigh more, follow-ups too
SCOPE_LABELS = ("out_of_scope",) * 6 + ("intro",) * 3 + ("small_talk",)


@dataclass
class TurnOutcome:
    label: str
    well_formed: bool = False
    right_tools: bool = False
    calls: list[tuple[str, Any]] = field(default_factory=list)  # (name, parsed args or None)
    args_valid: list[bool] = field(default_factory=list)
    exact_calls: bool = False  # every expected call made with exactly the expected arguments
    answer_ok: bool | None = None  # tool turns: the final answer states every result
    fitting: bool | None = None  # turns without tools: the answer is the one that fits
    final: str | None = None
    problem: str | None = "not played"


class DialoguePlay:
    """One held-out dialogue played through the server's rendering."""

    max_steps = MAX_TURN_STEPS

    def __init__(self, d: Dialogue, rng: random.Random, drop_reasoning: bool = False) -> None:
        self.d, self.rng, self.drop = d, rng, drop_reasoning
        self.outcomes = [TurnOutcome(label) for label in d.labels]
        self.tools = {called_name(d, t.name): t for t in d.tools}  # by the name a call carries
        self.history: list[Message] = [Message("user", d.turns[0].user)]
        self.turn = 0
        self.steps = 0  # sampled steps in the current turn
        self.results: dict[int, dict[str, Any]] = {}  # expected call index -> its result
        self.last_answer = ""
        self.done = False

    def prompt(self, enc: HarmonyEncoding) -> list[int]:
        return prompt_ids(self.d, self.history)

    def consume(self, enc: HarmonyEncoding, tokens: list[int]) -> None:
        outcome, ep = self.outcomes[self.turn], self.d.turns[self.turn]
        self.steps += 1
        messages, problem = parse_step(enc, tokens, bool(self.d.builtins), tuple(set(self.d.mcp.values())))
        if messages is None or (tokens[-1] == CALL and self.steps >= self.max_steps):
            outcome.problem = problem or "too many steps"
            self.done = True  # a client cannot go on from a broken turn
            return
        (assistant,) = api_messages(messages, f"call_{self.turn}_{self.steps}", keep_reasoning=not self.drop)
        self.history.append(assistant)
        if tokens[-1] != CALL:
            self._finish_turn(outcome, ep, text_of(messages[-1]))
            return
        call = assistant.tool_calls[0]
        self.history.append(tool_message(call, self.run_call(outcome, ep, call)))

    def run_call(self, outcome: TurnOutcome, ep: Episode, call: ToolCallItem) -> dict[str, Any] | str:
        """The result the called tool gives: a function the request needs answers as the simulated
        tool does (with exactly the expected arguments), any other call gets an error."""
        try:
            args = json.loads(call.arguments)
        except json.JSONDecodeError:
            args = None
        outcome.calls.append((call.name, args))
        valid = args_match_schema(args, self.tools.get(call.name))
        outcome.args_valid.append(valid)
        match = next(
            (
                i
                for i, c in enumerate(ep.calls)
                if i not in self.results
                and call.name == called_name(self.d, c.schema.name)
                and args == c.arguments
            ),
            None,
        )
        if match is None or not valid:
            return {"error": "invalid request"}
        c = ep.calls[match]
        self.results[match] = simulate(c.schema.kind, c.slots, self.rng)
        return self.results[match]

    def _finish_turn(self, outcome: TurnOutcome, ep: Episode, final: str) -> None:
        outcome.well_formed, outcome.problem, outcome.final = bool(final.strip()), None, final
        if not final.strip():
            outcome.problem = "empty answer"
        called = [name for name, _ in outcome.calls]
        outcome.right_tools = Counter(called) == Counter(called_name(self.d, c.schema.name) for c in ep.calls)
        outcome.exact_calls = outcome.right_tools and len(self.results) == len(ep.calls)
        if ep.calls:
            wanted = [v for i, r in self.results.items() for v in answer_values(ep.calls[i].schema.kind, r)]
            outcome.answer_ok = outcome.exact_calls and all(v in final for v in wanted)
        else:
            outcome.fitting = not called and final.strip() in _fitting_answers(ep, self.last_answer)
        self.last_answer = final
        self.turn, self.steps, self.results = self.turn + 1, 0, {}
        if self.turn == len(self.d.turns):
            self.done = True
        else:
            self.history.append(Message("user", self.d.turns[self.turn].user))


def _fitting_answers(ep: Episode, last_answer: str) -> set[str]:
    if ep.no_call_reason == "repeat":
        return {last_answer.strip()}
    answers = {(ep.direct_answer or "").strip()}
    if ep.direct_answer in (INTRO_ANSWER, GREETING):  # either greets an introduction fittingly
        answers |= {INTRO_ANSWER, GREETING}
    return answers


# ---- the sets ------------------------------------------------------------------------------------


def build_set(name: str, num: int, rng: random.Random) -> list[DialoguePlay]:
    def play(d: Dialogue, drop: bool = False) -> DialoguePlay:
        return DialoguePlay(d, random.Random(rng.getrandbits(64)), drop)

    if name == "multi":
        return [play(sample_dialogue(rng, held_out=True)) for _ in range(num)]
    if name == "dropped":
        plays: list[DialoguePlay] = []
        while len(plays) < num:
            ep = sample_episode(rng, held_out=True)
            if ep.calls:
                plays.append(play(episode_dialogue(ep), drop=True))
        return plays
    if name == "scope":
        return [
            play(sample_dialogue(rng, held_out=True, labels=(rng.choice(SCOPE_LABELS),))) for _ in range(num)
        ]
    if name == "mcp":
        mcp_plays: list[DialoguePlay] = []
        while len(mcp_plays) < num:
            d = sample_dialogue(rng, held_out=True, num_turns=rng.choice(MCP_TURNS))
            if d.tools:
                mcp_plays.append(play(with_namespaces(d, rng, held_out=True)))
        return mcp_plays
    raise ValueError(f"unknown evaluation set {name!r}")


def _share(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None  # None: the set has no such case


def report(name: str, plays: list[DialoguePlay]) -> dict[str, float]:
    """Shares over the set's conversations and turns (a share with no case is left out)."""
    turns = [o for p in plays for o in p.outcomes]
    tool_turns = [o for p in plays for o, ep in zip(p.outcomes, p.d.turns, strict=True) if ep.calls]
    talk_turns = [o for p in plays for o, ep in zip(p.outcomes, p.d.turns, strict=True) if not ep.calls]
    out: dict[str, float | None] = {
        "conversations": len(plays),
        "turns": len(turns),
        "every_turn_answered": _share([all(o.well_formed for o in p.outcomes) for p in plays]),
        "right_tool": _share([o.right_tools for o in turns]),
        "args_valid": _share([v for o in turns for v in o.args_valid]),
        "answer_states_result": _share([bool(o.answer_ok) for o in tool_turns]),
        "fitting_answer": _share([bool(o.fitting) for o in talk_turns]),
        "num_tool_turns": len(tool_turns),
    }
    if name == "multi":
        later = [o for p in plays for o in p.outcomes[1:]]
        later_tools = [
            o for p in plays for o, ep in zip(p.outcomes[1:], p.d.turns[1:], strict=True) if ep.calls
        ]
        out |= {
            "follow_up_right_tool": _share([o.right_tools for o in later]),
            "follow_up_tool_turns_right_tool": _share([o.right_tools for o in later_tools]),
            "follow_up_exact_calls": _share([o.exact_calls for o in later_tools]),
            "follow_up_states_result": _share([bool(o.answer_ok) for o in later_tools]),
            "num_follow_ups": len(later),
            "num_follow_up_tool_turns": len(later_tools),
        }
    return {k: v for k, v in out.items() if v is not None}


def failures(plays: list[DialoguePlay]) -> list[str]:
    """One line per turn that went wrong, for reading."""
    lines = []
    for p in plays:
        for t, (o, ep) in enumerate(zip(p.outcomes, p.d.turns, strict=True)):
            ok = o.well_formed and o.right_tools and all(o.args_valid) and o.answer_ok is not False
            if not ok or o.fitting is False:
                lines.append(
                    f"turn {t + 1}/{len(p.outcomes)} {o.label} user={ep.user!r} "
                    f"expected={[(c.schema.name, c.arguments) for c in ep.calls]} calls={o.calls} "
                    f"final={o.final!r} problem={o.problem}"
                )
                break
    return lines
