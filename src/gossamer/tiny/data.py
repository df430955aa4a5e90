"""Harmony conversations for training and evaluating gossamer-tiny (seeded, self-generated).

An `Episode` is one user request with its context (reasoning effort, date, offered tools). The
assistant's side is scripted from it: brief reasoning on `analysis` (longer at higher effort),
zero, one or two calls on `commentary` to `functions.NAME` with JSON arguments, the tool results,
then an answer on `final` that states them. Conversations are rendered with openai-harmony, so the
token stream is exactly what a server renders at inference time.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from openai_harmony import (
    Author,
    Conversation,
    DeveloperContent,
    HarmonyEncoding,
    Message,
    ReasoningEffort,
    RenderConversationConfig,
    Role,
    SystemContent,
    ToolDescription,
)

from gossamer.tiny.frame_phrasing import FILLER_JOINER
from gossamer.tiny.frame_phrasing import JOINERS as FILLER_JOINERS
from gossamer.tiny.nonce import NONCE_JOINER, NONCE_SHARE, NONCE_WORDS, nonce_added, with_nonce
from gossamer.tiny.phrasing import (
    CAPITAL_QUESTIONS,
    CAPITALS,
    EXTRA_CAPITAL_QUESTIONS,
    EXTRA_JOINERS,
    EXTRA_REQUESTS,
    EXTRA_SMALL_TALK,
    JOINERS,
    KEYWORDS,
    PREFIXES,
    REQUESTS,
    SMALL_TALK,
    SUFFIXES,
    TERSE_REQUESTS,
)
from gossamer.tiny.tools import (
    KINDS,
    SCHEMAS,
    ToolSchema,
    answer_sentence,
    need_phrase,
    sample_slots,
    simulate,
)
from gossamer.tiny.wider_phrasing import JOINERS as WIDER_JOINERS
from gossamer.tiny.wider_phrasing import SMALL_TALK as WIDER_SMALL_TALK

EFFORTS = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}
INSTRUCTIONS = (
    "You are a helpful assistant.",
    "Answer briefly.",
    "Be concise and friendly.",
    "You are a helpful assistant. Use the tools when they help.",
)
KEEP_ANALYSIS = RenderConversationConfig(auto_drop_analysis=False)


@dataclass
class Call:
    """One expected tool call: which schema, and the request values behind its arguments."""

    schema: ToolSchema
    slots: dict[str, Any]

    @property
    def arguments(self) -> dict[str, Any]:
        return self.schema.build_args(self.slots)


@dataclass
class Episode:
    effort: str
    current_date: str | None
    instructions: str | None
    tools: list[ToolSchema]
    user: str
    calls: list[Call] = field(default_factory=list)
    # Without calls: why none fits, and the scripted answer.
    no_call_reason: str | None = None  # "small_talk" | "fact" | "no_fit" | "out_of_scope" | "repeat"
    direct_answer: str | None = None

    def prompt_messages(self) -> list[Message]:
        system = SystemContent.new().with_reasoning_effort(EFFORTS[self.effort])
        if self.current_date:
            system = system.with_conversation_start_date(self.current_date)
        messages = [Message.from_role_and_content(Role.SYSTEM, system)]
        if self.tools or self.instructions:
            developer = DeveloperContent.new()
            if self.instructions:
                developer = developer.with_instructions(self.instructions)
            if self.tools:
                developer = developer.with_function_tools(
                    [ToolDescription.new(t.name, t.description, parameters=t.parameters) for t in self.tools]
                )
            messages.append(Message.from_role_and_content(Role.DEVELOPER, developer))
        messages.append(Message.from_role_and_content(Role.USER, self.user))
        return messages


# ---- sampling episodes -------------------------------------------------------------------------


def _pick(rng: random.Random, pair: tuple[tuple[str, ...], tuple[str, ...]], held_out: bool) -> str:
    return rng.choice(pair[1] if held_out else pair[0])


ROUGHEN = 0.35  # share of requests roughened at `augment=3`
ROUGH_DROP = 0.2  # chance that a roughened request loses each droppable word
_PUNCT = "?.!,:;"


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" " + _PUNCT)


def is_held_out_request(kind: str, text: str, slots: dict[str, Any]) -> bool:
    """Whether `text` is a held-out template of `kind` filled with `slots` (case and end
    punctuation aside)."""
    return any(_norm(t.format(**slots)) == _norm(text) for t in REQUESTS[kind][1])


def roughen(text: str, keep: set[str], rng: random.Random) -> str:
    """The request typed carelessly: some words dropped, lower case, punctuation lost. Words in
    `keep` (lower case) and words with digits survive whole, so the values and the words that name
    the request stay."""

    def kept(word: str) -> bool:
        return word.strip(_PUNCT).lower() in keep or any(c.isdigit() for c in word)

    words = [w for w in text.split() if kept(w) or rng.random() >= ROUGH_DROP]
    lower, bare = rng.random() < 0.3, rng.random() < 0.3
    out = [w if kept(w) or not lower else w.lower() for w in words]
    out = [w.strip(_PUNCT) if bare else w for w in out]
    return " ".join(w for w in out if w) or text


def _request(kind: str, slots: dict[str, Any], rng: random.Random, held_out: bool, augment: int = 0) -> str:
    text = _phrase(kind, slots, rng, held_out, augment)
    keep = set(KEYWORDS[kind]) | {w.lower() for v in slots.values() for w in str(v).split()}
    if augment >= 3 and rng.random() < ROUGHEN:
        rough = roughen(text, keep, rng)
        # Training never holds an instance of a held-out template, roughened or not.
        if not is_held_out_request(kind, rough, slots):
            text = rough
    if augment >= 6 and not held_out and rng.random() < NONCE_SHARE:
        text = with_nonce(text, keep, rng)
    return text


def training_joiners(augment: int, rng: random.Random) -> tuple[str, ...]:
    """The joiners of two requests that training at level `augment` (2 and up) draws from; at 6
    also the wider ones and a nonce word as the joiner (tiny.nonce), at 7 the nonce joiner more
    often (an unseen joiner still dropped the second request after level 6), at 9 filler words
    (tiny.frame_phrasing) as often."""
    if augment < 6:
        return JOINERS[0] + EXTRA_JOINERS
    nonce = rng.choice(NONCE_WORDS)
    as_joiner = (f"{{a}} {nonce.capitalize()} {{b}}", f"{{a}} and {nonce} {{b}}")
    if augment >= 7 and rng.random() < NONCE_JOINER:
        return as_joiner
    if augment >= 9 and rng.random() < FILLER_JOINER:
        return FILLER_JOINERS
    return (*JOINERS[0], *EXTRA_JOINERS, *WIDER_JOINERS, *as_joiner)


def _phrase(kind: str, slots: dict[str, Any], rng: random.Random, held_out: bool, augment: int) -> str:
    if augment == 1 and rng.random() < 0.5:
        return rng.choice(EXTRA_REQUESTS[kind]).format(**slots)
    if augment >= 2:
        r = rng.random()
        if r < 0.3:
            return rng.choice(EXTRA_REQUESTS[kind]).format(**slots)
        if r < 0.6:
            return rng.choice(TERSE_REQUESTS[kind]).format(**slots)
    return _pick(rng, REQUESTS[kind], held_out).format(**slots)


def _offer(
    rng: random.Random, required: list[ToolSchema], exclude_kinds: set[str], max_extra: int
) -> list[ToolSchema]:
    """The offered tools: the required ones plus up to `max_extra` distractors, shuffled."""
    others = [k for k in KINDS if k not in exclude_kinds and k not in {s.kind for s in required}]
    extra = [rng.choice(SCHEMAS[k]) for k in rng.sample(others, rng.randint(0, min(max_extra, len(others))))]
    tools = [*required, *extra]
    rng.shuffle(tools)
    return tools


def sample_context(rng: random.Random) -> tuple[str, str | None, str | None]:
    """A request's reasoning effort, current date (sometimes none) and developer instructions."""
    effort = rng.choice(tuple(EFFORTS))
    date = (
        None
        if rng.random() < 0.2
        else f"20{rng.randint(25, 27)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    )
    instructions = rng.choice(INSTRUCTIONS) if rng.random() < 0.25 else None
    return effort, date, instructions


def sample_episode(rng: random.Random, held_out: bool = False, augment: int = 0) -> Episode:
    """One request with context; `held_out` draws phrasings that training never sees. `augment`
    (fine-tuning) adds training-only phrasings: 1 the EXTRA_REQUESTS and chatty framing, 2 also
    terse requests, more joiners, small talk and capital questions (see phrasing.py), 3 also
    roughened requests (`roughen`)."""
    effort, date, instructions = sample_context(rng)
    ep = Episode(effort=effort, current_date=date, instructions=instructions, tools=[], user="")
    r = rng.random()
    # Augmented: more joined requests (their second half was the one dropped), fewer plain ones.
    one = 0.45 if augment >= 2 else 0.55
    if r < one:  # one call
        kind = rng.choice(KINDS)
        call = Call(rng.choice(SCHEMAS[kind]), sample_slots(kind, rng))
        ep.calls = [call]
        ep.tools = _offer(rng, [call.schema], set(), 3)
        ep.user = _request(kind, call.slots, rng, held_out, augment)
    elif r < 0.67:  # two calls in one turn: two kinds, or the same tool twice
        kinds = rng.sample(KINDS, 2) if rng.random() < 0.6 else [rng.choice(KINDS)] * 2
        first = rng.choice(SCHEMAS[kinds[0]])
        second = first if kinds[1] == kinds[0] else rng.choice(SCHEMAS[kinds[1]])
        ep.calls = [Call(first, sample_slots(kinds[0], rng)), Call(second, sample_slots(kinds[1], rng))]
        required = [first] if first is second else [first, second]
        ep.tools = _offer(rng, required, set(), 2)
        a, b = (_request(c.schema.kind, c.slots, rng, held_out, augment) for c in ep.calls)
        if augment >= 2:
            ep.user = rng.choice(training_joiners(augment, rng)).format(a=a, b=b)
        else:
            ep.user = _pick(rng, JOINERS, held_out).format(a=a, b=b)
    elif r < 0.77:  # asks for something no offered tool can do
        kind = rng.choice(KINDS)
        slots = sample_slots(kind, rng)
        ep.tools = _offer(rng, [], {kind}, 3) if rng.random() < 0.8 else []
        ep.user = _request(kind, slots, rng, held_out, augment)
        ep.no_call_reason = "no_fit"
        ep.direct_answer = f"Sorry, I don't have a tool to get {need_phrase(kind, slots)}."
    elif r < 0.89:  # small talk
        intent, train, held, answer = rng.choice(SMALL_TALK)
        ep.tools = _offer(rng, [], set(), 3) if rng.random() < 0.6 else []
        if augment >= 2:
            train = train + EXTRA_SMALL_TALK[intent] + (WIDER_SMALL_TALK[intent] if augment >= 6 else ())
        ep.user = rng.choice(held if held_out else train)
        if augment >= 6 and rng.random() < NONCE_SHARE:
            ep.user = nonce_added(ep.user, rng)
        ep.no_call_reason, ep.direct_answer = "small_talk", answer
    else:  # a fact the model knows
        country, capital = rng.choice(CAPITALS)
        ep.tools = _offer(rng, [], set(), 3) if rng.random() < 0.6 else []
        if augment >= 2:
            ep.user = rng.choice(CAPITAL_QUESTIONS[0] + EXTRA_CAPITAL_QUESTIONS).format(country=country)
            if augment >= 6 and rng.random() < NONCE_SHARE:
                ep.user = nonce_added(ep.user, rng)
        else:
            ep.user = _pick(rng, CAPITAL_QUESTIONS, held_out).format(country=country)
        ep.no_call_reason, ep.direct_answer = "fact", f"The capital of {country} is {capital}."
    if augment and ep.no_call_reason != "small_talk":
        ep.user = rng.choice(PREFIXES) + ep.user + rng.choice(SUFFIXES)
    return ep


# ---- the assistant's script -----------------------------------------------------------------------


def _first_thought(ep: Episode) -> str:
    e = ep.effort
    if ep.calls:
        name = ep.calls[0].schema.name
        needs = " and ".join(need_phrase(c.schema.kind, c.slots) for c in ep.calls)
        first = "First call" if len(ep.calls) > 1 else "Call"
        if e == "low":
            return f"User wants {needs}. {first} {name}."
        if e == "medium":
            return f"User wants {needs}. The {name} tool can do that. {first} {name}."
        return (
            f"The user asks for {needs}. Checking the tools: {name} fits this request. "
            f"{first} {name} with the needed arguments, then answer from the result."
        )
    reason = ep.no_call_reason
    if reason == "small_talk":
        return {
            "low": "Small talk. Reply politely.",
            "medium": "This is small talk. No tool is needed. Reply politely.",
            "high": "The user is making small talk. None of the tools is needed here. "
            "I will reply politely and briefly.",
        }[e]
    if reason == "fact":
        return {
            "low": "Simple fact. Answer directly.",
            "medium": "This is a simple fact question. No tool is needed. Answer directly.",
            "high": "This is a simple fact question that I can answer from memory. "
            "No tool is needed. I will answer in one sentence.",
        }[e]
    if reason == "out_of_scope":
        return {
            "low": "Not something I can do. Say so.",
            "medium": "I cannot do that: I only chat and use the tools I am given. Say so.",
            "high": "The user asks for something I cannot do: I can only chat and use the tools I "
            "am given. I will say so honestly in one sentence.",
        }[e]
    if reason == "repeat":
        return {
            "low": "User wants my last answer again. Repeat it.",
            "medium": "The user asks me to repeat my last answer. No tool is needed. Repeat it.",
            "high": "The user did not catch my last answer. No tool is needed: "
            "I will repeat it word for word.",
        }[e]
    return {
        "low": "No tool for that. Say so.",
        "medium": "None of the available tools can do that. Say so.",
        "high": "I checked the available tools and none of them can do that. "
        "I will say so politely instead of guessing.",
    }[e]


def _between_calls(ep: Episode) -> str:
    second = ep.calls[1]
    name = second.schema.name
    return {
        "low": f"Now call {name}.",
        "medium": f"Got the first result. Now call {name}.",
        "high": f"The first result is in. Next I need {need_phrase(second.schema.kind, second.slots)}, "
        f"so call {name}.",
    }[ep.effort]


def _after_results(ep: Episode) -> str:
    both = len(ep.calls) > 1
    return {
        "low": "Answer with both results." if both else "Answer with the result.",
        "medium": "Both tools answered. Answer the user." if both else "The tool answered. Answer the user.",
        "high": (
            "Both tools returned what I need. I will state both results clearly in a short answer."
            if both
            else "The tool returned what I need. I will state the result clearly in a short answer."
        ),
    }[ep.effort]


def _assistant(channel: str, text: str) -> Message:
    return Message.from_role_and_content(Role.ASSISTANT, text).with_channel(channel)


def tool_call_message(name: str, arguments: dict[str, Any]) -> Message:
    return (
        Message.from_role_and_content(Role.ASSISTANT, json.dumps(arguments))
        .with_channel("commentary")
        .with_recipient(f"functions.{name}")
        .with_content_type("<|constrain|>json")
    )


def tool_result_message(name: str, result: dict[str, Any]) -> Message:
    return (
        Message.from_author_and_content(Author.new(Role.TOOL, f"functions.{name}"), json.dumps(result))
        .with_channel("commentary")
        .with_recipient("assistant")
    )


def script(ep: Episode, rng: random.Random) -> list[list[Message]]:
    """The assistant's turn as sampling steps: each step is the messages one generation produces,
    then (except after the last step) the tool result that goes back to the model."""
    if not ep.calls:
        return [[_assistant("analysis", _first_thought(ep)), _assistant("final", ep.direct_answer or "")]]
    steps: list[list[Message]] = []
    answers = []
    for i, call in enumerate(ep.calls):
        thought = _first_thought(ep) if i == 0 else _between_calls(ep)
        result = simulate(call.schema.kind, call.slots, rng)
        answers.append(answer_sentence(call.schema.kind, call.slots, result))
        steps.append(
            [
                _assistant("analysis", thought),
                tool_call_message(call.schema.name, call.arguments),
                tool_result_message(call.schema.name, result),
            ]
        )
    steps.append([_assistant("analysis", _after_results(ep)), _assistant("final", " ".join(answers))])
    return steps


# ---- rendering for training ---------------------------------------------------------------------


def render_training(ep: Episode, enc: HarmonyEncoding, rng: random.Random) -> tuple[list[int], list[int]]:
    """Token ids of the whole exchange and a 0/1 mask of the tokens the model must produce.

    Rendered the way a server samples it: the prompt ends in `<|start|>assistant`; the model writes
    everything up to `<|call|>` or `<|return|>`; a tool result and a fresh `<|start|>assistant` come
    back as prompt. Analysis stays in the prompt while the tool chain is in progress.
    """
    history = ep.prompt_messages()
    ids: list[int] = []
    mask: list[int] = []
    steps = script(ep, rng)
    for n, step in enumerate(steps):
        last = n == len(steps) - 1
        produced = step if last else step[:-1]  # the tool result is input, not output
        prompt = enc.render_conversation_for_completion(
            Conversation.from_messages(history), Role.ASSISTANT, KEEP_ANALYSIS
        )
        history = history + produced
        full = enc.render_conversation(Conversation.from_messages(history), KEEP_ANALYSIS)
        assert full[: len(ids)] == ids and prompt[: len(ids)] == ids, "harmony rendering is not prefix-stable"
        # `full` repeats the prompt's trailing `<|start|>assistant`; harmony renders a final
        # message in history with <|end|>, but the model must stop on <|return|>.
        mask += [0] * (len(prompt) - len(ids)) + [1] * (len(full) - len(prompt))
        ids = list(full)
        if last:
            assert ids[-1] == RETURN_OR_END[1]
            ids[-1] = RETURN_OR_END[0]
        else:
            history = history + step[-1:]
    return ids, mask


RETURN_OR_END = (200002, 200007)  # <|return|>, <|end|>
