"""Tolerant parsing of one harmony message header into what its body is: reasoning, answer, call...

A header is everything between `<|start|>` and `<|message|>`, e.g.
`assistant<|channel|>commentary to=functions.get_weather <|constrain|>json`. Models (and peers'
parsers) get it wrong in known ways (shared/reference/clients-and-pitfalls.md): the recipient beside
the role, hyphens in names, `––commentary`, `commentary?`, free text after the channel, tool calls
on `analysis`. Every header parses to *something*; what was odd is returned as notes to log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

CHANNELS = ("analysis", "commentary", "final")
BUILTIN_NAMESPACES = ("browser", "python", "container")
_RECIPIENT = re.compile(r"to\s*=\s*([^\s<>]+)")
_CHANNEL_WORD = re.compile("|".join(CHANNELS))
_NAME_JUNK = re.compile(r"[^A-Za-z0-9_\-.]")
_NON_AUTHOR_ROLES = ("user", "system", "developer", "tool")


class Kind(Enum):
    REASONING = "reasoning"  # analysis, no recipient
    PREAMBLE = "preamble"  # commentary, no recipient
    CONTENT = "content"  # final
    FUNCTION_CALL = "function_call"  # to=functions.NAME (any channel)
    BUILTIN_CALL = "builtin_call"  # to=browser.search, to=python, to=docs.search (MCP): the server runs it
    DISCARD = "discard"  # the model wrote another author's message (e.g. a fake tool result)


@dataclass
class Header:
    kind: Kind
    channel: str | None
    recipient: str | None = None
    name: str | None = None  # function name for FUNCTION_CALL
    free_text: str = ""  # text after the channel that belongs to no field
    notes: list[str] = field(default_factory=list)  # what was repaired, for the warning log


def _clean_recipient(raw: str) -> str:
    return raw.strip("\"'`,;:!?()[]{}").rstrip(".")


def _function_name(raw: str, tool_names: tuple[str, ...], notes: list[str]) -> str:
    name = _NAME_JUNK.sub("", raw).strip(".")
    if name != raw:
        notes.append(f"cleaned function name {raw!r} to {name!r}")
    if tool_names and name not in tool_names:
        # A near miss (case, hyphen for underscore) is the tool the model meant.
        key = name.lower().replace("-", "_")
        matches = [t for t in tool_names if t.lower().replace("-", "_") == key]
        if len(matches) == 1:
            notes.append(f"function name {name!r} matched to tool {matches[0]!r}")
            return matches[0]
        notes.append(f"function {name!r} is not among the offered tools")
    return name


def _classify_recipient(
    recipient: str, tool_names: tuple[str, ...], notes: list[str], namespaced: tuple[str, ...] = ()
) -> tuple[Kind, str | None]:
    if recipient in namespaced:  # an offered function of another namespace: the server runs it
        return Kind.BUILTIN_CALL, None
    if recipient.startswith("functions."):
        name = _function_name(recipient.removeprefix("functions."), tool_names, notes)
        return (Kind.FUNCTION_CALL, name) if name else (Kind.PREAMBLE, None)
    if recipient.split(".", 1)[0] in BUILTIN_NAMESPACES:
        return Kind.BUILTIN_CALL, None
    last = recipient.rsplit(".", 1)[-1]
    if recipient in tool_names or last in tool_names or (not tool_names and "." not in recipient):
        notes.append(f"recipient {recipient!r} without the functions namespace taken as a function call")
        return Kind.FUNCTION_CALL, _function_name(last, tool_names, notes)
    notes.append(f"unknown recipient {recipient!r} kept as a built-in call")
    return Kind.BUILTIN_CALL, None


def parse_header(text: str, tool_names: tuple[str, ...] = (), namespaced: tuple[str, ...] = ()) -> Header:
    """Parse header text (specials spelled out, e.g. `<|channel|>`) into a Header; never raises.

    `namespaced`: recipients of offered functions in other namespaces (`docs.search`, an MCP
    server's), calls like the built-in ones."""
    notes: list[str] = []
    role_part, has_channel, after = text.partition("<|channel|>")
    recipient = None
    if match := _RECIPIENT.search(text):
        raw = match.group(1)
        recipient = _clean_recipient(raw) or None
        if recipient != raw:
            notes.append(f"recipient {raw!r} cleaned to {recipient!r}")
        # Remove the recipient so that its text cannot be taken for a channel word.
        text_wo_recipient = text[: match.start()] + text[match.end() :]
        role_part, has_channel, after = text_wo_recipient.partition("<|channel|>")

    channel_text = after.split("<|constrain|>", 1)[0]
    channel_match = _CHANNEL_WORD.search(channel_text) if has_channel else None
    if channel_match is None:
        channel_match = _CHANNEL_WORD.search(role_part)  # `assistant final`, no <|channel|>
        if channel_match is not None:
            notes.append("channel given without <|channel|>")
    channel = channel_match.group(0) if channel_match else None
    free_text = ""
    if has_channel and channel_match is not None:
        first_word = channel_text.split(maxsplit=1)[0] if channel_text.split() else ""
        if first_word != channel:
            notes.append(f"channel written as {first_word!r}")
        free_text = channel_text[channel_match.end() :].strip()
        if free_text not in ("", "json", "code"):  # `<|constrain|>`-less content types are normal
            notes.append(f"free text after the channel: {free_text[:40]!r}")

    role = role_part.split()[0] if role_part.split() else ""
    is_other_author = role in _NON_AUTHOR_ROLES or "." in role or role in BUILTIN_NAMESPACES
    if role and "assistant" not in role and is_other_author:
        notes.append(f"model wrote a message as {role!r}; discarded")
        return Header(Kind.DISCARD, channel, recipient, free_text=free_text, notes=notes)

    if recipient is not None and recipient.lower() in ("assistant", "user", "all"):
        recipient = None
    if recipient is not None:
        kind, name = _classify_recipient(recipient, tool_names, notes, namespaced)
        if kind is Kind.FUNCTION_CALL and channel == "analysis":
            notes.append("function call on the analysis channel")
        if kind is not Kind.PREAMBLE:
            return Header(kind, channel, recipient, name, free_text, notes)
        notes.append(f"recipient {recipient!r} names no function; body kept as text")
        recipient = None
    if channel is None:
        notes.append("no channel; body taken as the answer")
        return Header(Kind.CONTENT, None, None, None, free_text, notes)
    kind = {"analysis": Kind.REASONING, "commentary": Kind.PREAMBLE, "final": Kind.CONTENT}[channel]
    return Header(kind, channel, None, None, free_text, notes)
