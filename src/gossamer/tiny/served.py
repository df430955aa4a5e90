"""Dialogues rendered exactly as gossamer's server renders them, for training and evaluation.

Every prompt here comes from `gossamer.harmony.render.render_conversation`, the server's own
renderer, over the API-neutral messages a client sends back: a finished turn is its user message,
its calls with their results and its answer; the reasoning of every turn up to the last answer is
dropped (harmony's rule), the reasoning of a tool-call chain still in progress is kept, unless the
client dropped it (LangChain's ChatOpenAI and the Agents SDK's Chat Completions model do, and the
server's reasoning replay cannot always put it back).

A multi-turn training conversation trains its last turn: the prompts of earlier turns differ from
what the model wrote in them (their reasoning is gone), so one token sequence can hold only one
turn's writing. With a dropping client (the reasoning of the turn's earlier steps gone) it trains
one step after a call, and ends there.

At `--augment 4` a training corpus mixes these dialogues with level-3 single requests
(`training_conversation`).
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

from openai_harmony import Author, HarmonyEncoding, Role
from openai_harmony import Message as HMessage

from gossamer.harmony.conversation import Conversation, FunctionNamespace, FunctionTool, Message, ToolCallItem
from gossamer.harmony.render import render_conversation
from gossamer.tiny.data import RETURN_OR_END, Episode, render_training, sample_episode, script
from gossamer.tiny.dialogue import Dialogue, sample_dialogue
from gossamer.tiny.mcp import description, with_namespaces
from gossamer.tiny.tools import ToolSchema

PREFILL = 2  # `<|start|>assistant`: the prompt's tail, the start of what the model writes
DIALOGUE_SHARE = 0.6  # at augment 4, the share of training conversations that are dialogues ...
ONE_TURN = 0.3  # ... of which one turn only (out-of-scope requests, introductions, dropped reasoning)
DROP_REASONING = 0.3  # share of dialogues ending in a tool turn whose client drops its reasoning
DROPPED_REQUEST = {8: 0.1, 9: 0.15, 10: 0.25}  # at augment 8 and up, the share of single requests
# from a dropping client, as the evaluation's dropped set has them (level 6 had few after a
# two-request message's first call) ...
DROPPED_TWO = {8: 0.5, 9: 0.5, 10: 0.65}  # ... and the share of those that ask for two
BUILTIN_SHARE = 0.16  # at augment 5, the share of conversations with the built-in tools
MCP_SHARE = 0.3  # at augment 5, the share of dialogues whose tools (some or all) an MCP server offers


def text_of(message: HMessage) -> str:
    return "".join(c.text for c in message.content if hasattr(c, "text"))


def conversation(d: Dialogue, messages: list[Message]) -> Conversation:
    """The request a client sends for `d` with `messages` so far."""
    tools = [FunctionTool(t.name, t.description, t.parameters) for t in d.tools if t.name not in d.mcp]
    servers: dict[str, list[FunctionTool]] = {}
    for t in d.tools:
        if t.name in d.mcp:
            servers.setdefault(d.mcp[t.name], []).append(FunctionTool(t.name, t.description, t.parameters))
    return Conversation(
        messages=messages,
        tools=tools,
        function_namespaces=[FunctionNamespace(ns, description(ns), fs) for ns, fs in servers.items()],
        builtin_tools=list(d.builtins),  # type: ignore[arg-type]
        tool_namespaces=dict(d.builtins),  # as the server's ToolBox.offer describes them
        reasoning_effort=d.effort,  # type: ignore[arg-type]
        instructions=d.instructions,
        current_date=d.current_date,
    )


def prompt_ids(d: Dialogue, messages: list[Message]) -> list[int]:
    """What the server feeds the model, ending in `<|start|>assistant`."""
    return list(render_conversation(conversation(d, messages)).prompt_ids)


def api_messages(produced: list[HMessage], call_id: str, keep_reasoning: bool = True) -> list[Message]:
    """One sampled step (harmony messages up to a call or an answer) as the client sends it back:
    an assistant message with its reasoning, preamble or answer, and calls."""
    reasoning = "\n".join(text_of(m) for m in produced if m.channel == "analysis" and not m.recipient)
    content = "".join(
        text_of(m) for m in produced if m.channel in ("final", "commentary") and not m.recipient
    )
    calls = [
        ToolCallItem(f"{call_id}_{i}", (m.recipient or "").removeprefix("functions."), text_of(m))
        for i, m in enumerate(m for m in produced if m.recipient)
    ]
    return [Message("assistant", content, reasoning if keep_reasoning else None, tool_calls=calls)]


def tool_message(call: ToolCallItem, result: dict[str, Any] | str) -> Message:
    content = result if isinstance(result, str) else json.dumps(result)
    return Message("tool", content, tool_call_id=call.call_id, name=call.name)


def written_ids(enc: HarmonyEncoding, produced: list[HMessage], ends_turn: bool) -> list[int]:
    """The tokens the model writes for `produced`, after the prompt's `<|start|>assistant`."""
    ids = [t for m in produced for t in enc.render(m)]
    if ends_turn:
        assert ids[-1] == RETURN_OR_END[1]
        ids[-1] = RETURN_OR_END[0]  # harmony renders a final answer in history with <|end|>
    return ids[PREFILL:]


def addressed(d: Dialogue, steps: list[list[HMessage]]) -> list[list[HMessage]]:
    """data.script's steps with each call to a tool an MCP server offers addressed to its namespace
    (`crm_tools.get_weather`, not `functions.get_weather`), and its result coming from there."""
    if not d.mcp:
        return steps

    def recipient(name: str | None) -> str | None:
        tool = (name or "").removeprefix("functions.")
        return f"{d.mcp[tool]}.{tool}" if name and name.startswith("functions.") and tool in d.mcp else None

    out = []
    for step in steps:
        fixed = []
        for m in step:
            if (to := recipient(m.recipient)) is not None:
                m = m.with_recipient(to)
            elif (author := recipient(m.author.name)) is not None:
                m = HMessage.from_author_and_content(Author.new(Role.TOOL, author), text_of(m))
                m = m.with_channel("commentary").with_recipient("assistant")
            fixed.append(m)
        out.append(fixed)
    return out


def _step_messages(step: list[HMessage], call_id: str, keep_reasoning: bool) -> list[Message]:
    """One scripted step (data.script) as the client sends it back: the assistant's message, and
    the tool's result when the step ends in a call."""
    if step[-1].channel == "final":
        return api_messages(step, call_id, keep_reasoning)
    (assistant,) = api_messages(step[:-1], call_id, keep_reasoning)
    return [assistant, tool_message(assistant.tool_calls[0], text_of(step[-1]))]


def _turn_messages(steps: list[list[HMessage]], call_id: str, keep_reasoning: bool) -> list[Message]:
    return [m for n, step in enumerate(steps) for m in _step_messages(step, f"{call_id}_{n}", keep_reasoning)]


def render_dialogue(
    d: Dialogue, enc: HarmonyEncoding, rng: random.Random, drop_reasoning: bool = False
) -> tuple[list[int], list[int]]:
    """Token ids of the conversation up to the end of what its last turn trains, and a 0/1 mask
    of the tokens the model must produce (data.render_training's contract)."""
    history: list[Message] = []
    last_answer = ""
    for t, ep in enumerate(d.turns):
        if ep.no_call_reason == "repeat":
            ep = replace(ep, direct_answer=last_answer)
        steps = addressed(d, script(ep, rng))
        last_answer = text_of(steps[-1][-1])
        history.append(Message("user", ep.user))
        if t < len(d.turns) - 1:
            history += _turn_messages(steps, f"call_{t}", keep_reasoning=True)
            continue
        # The trained turn: with a dropping client, from a step after a call (reasoning gone).
        first = rng.randint(1, len(steps) - 1) if drop_reasoning and len(steps) > 1 else 0
        history += _turn_messages(steps[:first], f"call_{t}", keep_reasoning=False)
        return render_turn(d, history, steps[first:], enc, f"call_{t}", only_first=first > 0)
    raise ValueError("a dialogue needs at least one turn")


def render_turn(
    d: Dialogue,
    history: list[Message],
    steps: list[list[HMessage]],
    enc: HarmonyEncoding,
    call_id: str,
    only_first: bool = False,
) -> tuple[list[int], list[int]]:
    """The prompt for `history` and what the model writes in `steps` (data.script's shape), each
    call step's result sent back with its reasoning; `only_first`: end after the first step."""
    ids = prompt_ids(d, history)
    mask = [0] * len(ids)
    for n, step in enumerate(steps):
        last = n == len(steps) - 1
        out = written_ids(enc, step if last else step[:-1], ends_turn=last)
        ids, mask = ids + out, mask + [1] * len(out)
        if last or only_first:
            break
        history = history + _step_messages(step, f"{call_id}_{n}", keep_reasoning=True)
        prompt = prompt_ids(d, history)
        assert prompt[: len(ids)] == ids, "the server's rendering is not prefix-stable here"
        mask += [0] * (len(prompt) - len(ids))
        ids = prompt
    return ids, mask


def episode_dialogue(ep: Episode) -> Dialogue:
    """A single-turn episode (data.sample_episode) as a one-turn dialogue."""
    label = "request" if len(ep.calls) == 1 else "two" if ep.calls else ep.no_call_reason or "small_talk"
    return Dialogue(ep.effort, ep.current_date, ep.instructions, ep.tools, [ep], [label])


def tool_schemas(d: Dialogue) -> dict[str, ToolSchema]:
    return {t.name: t for t in d.tools}


def _dropped_request(rng: random.Random, augment: int) -> Episode:
    """A single request that needs a tool, sometimes two (DROPPED_TWO): after the first call of two,
    a client that dropped the reasoning leaves only the user's message to say what comes next."""
    two = rng.random() < DROPPED_TWO[augment]
    while True:
        ep = sample_episode(rng, augment=augment)
        if ep.calls and (len(ep.calls) == 2) == two:
            return ep


def training_conversation(
    rng: random.Random, enc: HarmonyEncoding, augment: int
) -> tuple[list[int], list[int]]:
    """One rendered training conversation: below level 4 a single request (data.sample_episode);
    at level 4 also dialogues, some of one turn, some from a client that drops the reasoning; at
    level 5 some dialogues' tools sit in MCP namespaces (tiny.mcp); level 6 is level 4's mix with
    wider phrasings and nonce words (tiny.wider_phrasing, tiny.nonce), without level 5's tools;
    level 7 has more of the nonce words; level 8 adds single requests from a dropping client; level 9
    has more of those, and tiny.frame_phrasing's shared frames; level 10 more of them again, more
    often two requests, and polite requests to repeat the last answer."""
    phrasing = 4 if augment == 5 else augment  # level 5 adds no phrasing
    if augment >= 8 and rng.random() < DROPPED_REQUEST[augment]:
        d = episode_dialogue(_dropped_request(rng, augment))
        return render_dialogue(d, enc, rng, drop_reasoning=True)
    if augment < 4 or rng.random() >= DIALOGUE_SHARE:
        return render_training(sample_episode(rng, augment=phrasing), enc, rng)
    d = sample_dialogue(rng, augment=phrasing, num_turns=1 if rng.random() < ONE_TURN else None)
    if augment == 5 and rng.random() < MCP_SHARE:
        d = with_namespaces(d, rng)
    drop = bool(d.turns[-1].calls) and rng.random() < DROP_REASONING
    return render_dialogue(d, enc, rng, drop_reasoning=drop)


class TrainingMix:
    """The training conversations of a corpus, in order. Level 5 adds turns with the built-in
    tools (tiny.builtins) and MCP namespaces (tiny.mcp) to level 4's mix; the built-in tools'
    pages stay for a few conversations at a time."""

    def __init__(self, augment: int) -> None:
        self.augment = augment
        self.world = None
        self.world_uses = 0

    def conversation(self, rng: random.Random, enc: HarmonyEncoding) -> tuple[list[int], list[int]]:
        if self.augment != 5 or rng.random() >= BUILTIN_SHARE:
            return training_conversation(rng, enc, self.augment)
        from gossamer.tiny.builtins import PAGES_REUSED, make_world, render_builtin, sample_builtin

        if self.world is None or self.world_uses >= PAGES_REUSED:
            self.world, self.world_uses = make_world(rng), 0
        self.world_uses += 1
        return render_builtin(sample_builtin(rng, world=self.world, augment=self.augment), enc, rng)
