"""Conversations of several user turns for gossamer-tiny (seeded, self-generated).

A `Dialogue` is one context (reasoning effort, date, instructions, offered tools) and its user
turns, each an `Episode` whose assistant side `data.script` writes. Later turns build on earlier
ones the way people go on: the last call again with one value changed ("And in Oslo?"), the other
of weather and time for the same city ("What time is it there?"), a new request, the last answer
again, small talk, an introduction, something no tool serves. `tiny.served` renders a dialogue
exactly as the server renders it, and the evaluation plays held-out ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from gossamer.harmony.conversation import ToolNamespace
from gossamer.tiny import frame_phrasing as frames
from gossamer.tiny import wider_phrasing as wider
from gossamer.tiny.data import Call, Episode, _request, roughen, sample_context, training_joiners
from gossamer.tiny.nonce import NONCE_OUT_OF_SCOPE, NONCE_SHARE, NONCE_WORDS, nonce_added, with_nonce
from gossamer.tiny.phrasing import (
    CAPITAL_QUESTIONS,
    CAPITALS,
    EXTRA_CAPITAL_QUESTIONS,
    EXTRA_SMALL_TALK,
    JOINERS,
    KEYWORDS,
    PREFIXES,
    SMALL_TALK,
    SUFFIXES,
)
from gossamer.tiny.tools import CITIES, CURRENCIES, KINDS, SCHEMAS, ToolSchema, need_phrase, sample_slots
from gossamer.tiny.turn_phrasing import (
    AGAIN,
    FOLLOW_PREFIXES,
    INTRO,
    INTRO_ANSWER,
    NAMES,
    OUT_OF_SCOPE,
    OUT_OF_SCOPE_ANSWER,
    REPEAT,
    THERE,
)

# What a turn is. A first turn is a request, two requests joined, or one of the no-call kinds.
FIRST_TURN = {
    "request": 58,
    "two": 10,
    "small_talk": 8,
    "intro": 6,
    "out_of_scope": 12,
    "fact": 3,
    "no_fit": 3,
}
LATER_TURN = {
    "again": 30,
    "there": 10,
    "switch": 18,
    "two": 3,
    "repeat": 6,
    "small_talk": 11,
    "intro": 2,
    "out_of_scope": 10,
    "no_fit": 5,
    "fact": 5,
}
TOOL_LABELS = ("request", "two", "again", "there", "switch")
NUM_TURNS = (2, 2, 2, 3, 3, 3, 4, 5)
NUM_OFFERED = (0, 1, 1, 2, 2, 2, 3, 3, 4)  # kinds of tool offered in a dialogue
ROUGHEN_FOLLOW_UP = 0.3  # share of follow-ups typed carelessly in training
# At level 9 (tiny.frame_phrasing): the shares of out-of-scope requests in a shared frame, of
# introductions opening with a pleasantry, and of follow-ups opening with a polite modal.
FRAMED_OUT_OF_SCOPE = 0.4
PLEASANTRY_INTRO = 0.35
POLITE_FOLLOW_UP = 0.25


@dataclass
class Dialogue:
    effort: str
    current_date: str | None
    instructions: str | None
    tools: list[ToolSchema]
    turns: list[Episode] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # what each turn is (FIRST_TURN, LATER_TURN)
    # Built-in tools the server runs, by name, with their description (tiny.builtins).
    builtins: dict[str, ToolNamespace] = field(default_factory=dict)
    # Tools an MCP server offers, by name -> its namespace (tiny.mcp); the others are `functions`.
    mcp: dict[str, str] = field(default_factory=dict)


def _weighted(rng: random.Random, weights: dict[str, int], allowed: set[str]) -> str:
    names = [n for n in weights if n in allowed]
    return rng.choices(names, [weights[n] for n in names])[0]


def _changed(kind: str, slot: str, slots: dict, rng: random.Random) -> dict:
    """`slots` with `slot` given a new value (the value a follow-up asks about)."""
    new = dict(slots)
    while new[slot] == slots[slot]:
        if slot == "expression":
            new = sample_slots("calc", rng)
        elif slot == "to_currency":
            new["to_currency"] = rng.choice([c for c in CURRENCIES if c != slots["from_currency"]])
        elif slot == "city":
            new["city"] = rng.choice(CITIES)
        else:
            new[slot] = sample_slots(kind, rng)[slot]
    return new


class _Sampler:
    """Samples one dialogue's turns, keeping what later turns refer to."""

    def __init__(self, rng: random.Random, held_out: bool, augment: int, offered: dict[str, ToolSchema]):
        self.rng, self.held_out, self.augment, self.offered = rng, held_out, augment, offered
        self.last_calls: list[Call] = []  # the calls of the turn before, if it made any

    def _pick(self, pair: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
        return self.rng.choice(pair[1] if self.held_out else pair[0])

    def _casual(self, text: str, keep: set[str]) -> str:
        if not self.held_out and self.augment >= 3 and self.rng.random() < ROUGHEN_FOLLOW_UP:
            text = roughen(text, keep, self.rng)
        return self._nonce(self._polite(text), keep)

    def _polite(self, text: str) -> str:
        """At level 9, a share of training follow-ups open with a polite modal."""
        return frames.polite(text, self.rng) if self._level9(POLITE_FOLLOW_UP) else text

    def _level9(self, share: float) -> bool:
        return not self.held_out and self.augment >= 9 and self.rng.random() < share

    def _wider(self, train: tuple[str, ...], more: tuple[str, ...]) -> tuple[str, ...]:
        """Training templates, with level 6's wider ones (tiny.wider_phrasing)."""
        return train + more if self.augment >= 6 else train

    def _nonce(self, text: str, keep: set[str] | None = None, share: float = NONCE_SHARE) -> str:
        """At level 6, a share of training messages with nonce words (tiny.nonce): replacing words
        not in `keep`, or with `keep=None` only put in."""
        if self.held_out or self.augment < 6 or self.rng.random() >= share:
            return text
        return nonce_added(text, self.rng) if keep is None else with_nonce(text, keep, self.rng)

    def allowed(self, first: bool) -> set[str]:
        labels = {"small_talk", "intro", "out_of_scope", "fact"}
        if len(self.offered) < len(KINDS):
            labels.add("no_fit")
        if self.offered:
            labels |= {"request", "two"} if first else {"switch", "two"}
        if not first:
            labels.add("repeat")
        if self.last_calls:
            labels.add("again")
            other = {"weather": "time", "time": "weather"}.get(self.last_calls[-1].schema.kind)
            if other in self.offered:
                labels.add("there")
        return labels

    def turn(self, label: str, ep: Episode) -> Episode:
        rng = self.rng
        if label in ("request", "switch"):
            kind = rng.choice(list(self.offered))
            call = Call(self.offered[kind], sample_slots(kind, rng))
            ep = replace(ep, calls=[call], user=_request(kind, call.slots, rng, self.held_out, self.augment))
            if not self.held_out and self.augment:  # chatty framing, as data.sample_episode has it
                if label == "switch":
                    ep.user = rng.choice(FOLLOW_PREFIXES) + self._polite(ep.user)
                else:
                    ep.user = rng.choice(PREFIXES) + ep.user + rng.choice(SUFFIXES)
        elif label == "two":
            kinds = (
                rng.sample(list(self.offered), 2) if len(self.offered) > 1 and rng.random() < 0.6 else None
            )
            kinds = kinds or [rng.choice(list(self.offered))] * 2
            calls = [Call(self.offered[k], sample_slots(k, rng)) for k in kinds]
            a, b = (_request(c.schema.kind, c.slots, rng, self.held_out, self.augment) for c in calls)
            if self.held_out:
                joiners = JOINERS[1]
            else:
                joiners = training_joiners(self.augment, rng) if self.augment >= 2 else JOINERS[0]
            ep = replace(ep, calls=calls, user=rng.choice(joiners).format(a=a, b=b))
        elif label == "again":
            last = self.last_calls[-1]
            slot, train, held = rng.choice(AGAIN[last.schema.kind])
            slots = _changed(last.schema.kind, slot, last.slots, rng)
            text = rng.choice(held if self.held_out else self._wider(train, wider.AGAIN[slot]))
            text = text.format(**slots)
            keep = {w.lower() for v in slots.values() for w in str(v).split()} | set(
                KEYWORDS[last.schema.kind]
            )
            ep = replace(ep, calls=[Call(last.schema, slots)], user=self._casual(text, keep))
        elif label == "there":
            kind = {"weather": "time", "time": "weather"}[self.last_calls[-1].schema.kind]
            slots = {"city": self.last_calls[-1].slots["city"]}
            train, held = THERE[kind]
            text = rng.choice(held if self.held_out else self._wider(train, wider.THERE[kind]))
            text = self._casual(text, set(KEYWORDS[kind]) | {"there"})
            ep = replace(ep, calls=[Call(self.offered[kind], slots)], user=text)
        elif label == "repeat":
            # The answer is the last answer, known once the turn before is scripted (tiny.served).
            text = rng.choice(REPEAT[1] if self.held_out else self._wider(REPEAT[0], wider.REPEAT))
            text = self._polite(text) if self.augment >= 10 else text
            ep = replace(ep, user=self._nonce(text), no_call_reason="repeat")
        elif label == "small_talk":
            intent, train, held, answer = rng.choice(SMALL_TALK)
            if self.augment >= 2:
                train = self._wider(train + EXTRA_SMALL_TALK[intent], wider.SMALL_TALK[intent])
            ep = replace(ep, user=self._nonce(rng.choice(held if self.held_out else train)))
            ep.no_call_reason, ep.direct_answer = "small_talk", answer
        elif label == "intro":
            if self.held_out:
                text = self._pick(INTRO).format(name=self._pick(NAMES))
            else:
                name = rng.choice(self._wider(NAMES[0], wider.NAMES))
                if self.augment >= 6 and rng.random() < 0.5:  # a name it never saw reads as unknown
                    name = rng.choice(NONCE_WORDS).capitalize()
                intros = self._wider(INTRO[0], wider.INTRO)
                intros = frames.INTRO if self._level9(PLEASANTRY_INTRO) else intros
                text = self._nonce(rng.choice(intros).format(name=name))
            ep = replace(ep, user=text)
            ep.no_call_reason, ep.direct_answer = "small_talk", INTRO_ANSWER
        elif label == "out_of_scope":
            city = rng.choice(CITIES)
            pool = OUT_OF_SCOPE[1] if self.held_out else self._wider(OUT_OF_SCOPE[0], wider.OUT_OF_SCOPE)
            text = rng.choice(pool).format(city=city)
            share = NONCE_OUT_OF_SCOPE if self.augment >= 7 else NONCE_SHARE
            if self._level9(FRAMED_OUT_OF_SCOPE):
                text, share = frames.out_of_scope(rng, city), 0.0  # its thing may be a nonce word already
            text = self._nonce(text, {w.lower() for w in city.split()}, share)
            if not self.held_out and self.augment and rng.random() < 0.3:
                text = rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)
            ep = replace(ep, user=text, no_call_reason="out_of_scope", direct_answer=OUT_OF_SCOPE_ANSWER)
        elif label == "no_fit":
            kind = rng.choice([k for k in KINDS if k not in self.offered])
            slots = sample_slots(kind, rng)
            ep = replace(
                ep, user=_request(kind, slots, rng, self.held_out, self.augment), no_call_reason="no_fit"
            )
            ep.direct_answer = f"Sorry, I don't have a tool to get {need_phrase(kind, slots)}."
        elif label == "fact":
            country, capital = rng.choice(CAPITALS)
            if self.held_out:
                question = rng.choice(CAPITAL_QUESTIONS[1])
            else:
                question = rng.choice(
                    CAPITAL_QUESTIONS[0] + (EXTRA_CAPITAL_QUESTIONS if self.augment >= 2 else ())
                )
            ep = replace(ep, user=self._nonce(question.format(country=country)), no_call_reason="fact")
            ep.direct_answer = f"The capital of {country} is {capital}."
        else:
            raise ValueError(f"unknown turn label {label!r}")
        self.last_calls = ep.calls
        return ep


def sample_dialogue(
    rng: random.Random,
    held_out: bool = False,
    augment: int = 0,
    num_turns: int | None = None,
    labels: tuple[str, ...] = (),
) -> Dialogue:
    """A conversation of `num_turns` user turns (default: 2 to 5), or of the turns `labels` name;
    `held_out` draws only phrasings that training never sees, `augment` the training-only ones of
    that level (data.sample_episode)."""
    effort, date, instructions = sample_context(rng)
    kinds = rng.sample(KINDS, rng.choice(NUM_OFFERED))
    # weather and time go together often, so that "what time is it there?" has something to follow.
    if "weather" in kinds and "time" not in kinds and rng.random() < 0.5:
        kinds.append("time")
    offered = {k: rng.choice(SCHEMAS[k]) for k in kinds}
    tools = list(offered.values())
    rng.shuffle(tools)
    d = Dialogue(effort, date, instructions, tools)
    sampler = _Sampler(rng, held_out, augment, offered)
    blank = Episode(effort=effort, current_date=date, instructions=instructions, tools=tools, user="")
    for t in range(len(labels) or num_turns or rng.choice(NUM_TURNS)):
        allowed = sampler.allowed(first=t == 0)
        if labels and labels[t] not in allowed:
            raise ValueError(f"turn {t} cannot be {labels[t]!r} here")
        label = labels[t] if labels else _weighted(rng, FIRST_TURN if t == 0 else LATER_TURN, allowed)
        d.turns.append(sampler.turn(label, replace(blank, calls=[])))
        d.labels.append(label)
    return d
