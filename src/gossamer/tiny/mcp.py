"""Function tools offered in an MCP server's harmony namespace, for gossamer-tiny (issue 23).

The server offers an MCP server's tools as functions in a namespace of their own in the developer
message (`namespace crm_tools { type get_weather = ... }`), beside or instead of `functions`, and
the model calls them as `crm_tools.get_weather` on commentary with `<|constrain|>json`
(docs/mcp.md, "For the trainer of gossamer-tiny"). `with_namespaces` moves some or all of a
dialogue's tools into such namespaces; `tiny.served` renders them exactly as the server does.

The names are pairs of words. gossamer-tiny writes only tokens it was trained to write, so a
namespace name it must copy into a recipient is built from words training shows; the held-out
pairs are never a namespace in training, so the evaluation measures reading the name from the
prompt, not recalling it.
"""

from __future__ import annotations

import random
from dataclasses import replace
from itertools import product
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gossamer.tiny.dialogue import Dialogue

FIRST_WORDS = (
    "docs",
    "github",
    "crm",
    "weather",
    "shop",
    "acme",
    "data",
    "ops",
    "store",
    "team",
    "cloud",
    "finance",
    "travel",
    "company",
    "internal",
    "my",
)
SECOND_WORDS = ("tools", "api", "hub", "server", "svc", "mcp", "service", "lookup")
# Every seventh pair is held out: each word still occurs in training, in other pairs and alone.
_PAIRS = [f"{a}_{b}" for a, b in product(FIRST_WORDS, SECOND_WORDS)]
HELD_OUT_NAMES = tuple(_PAIRS[3::7])
TRAINING_NAMES = tuple(p for p in _PAIRS if p not in HELD_OUT_NAMES) + FIRST_WORDS
ALL_IN_ONE = 0.6  # share of MCP dialogues whose tools all sit in one namespace (no `functions`)


def description(namespace: str) -> str:
    """The comment the server writes above a namespace without a server_description."""
    return f"Tools from the MCP server `{namespace}`."


def with_namespaces(d: Dialogue, rng: random.Random, held_out: bool = False) -> Dialogue:
    """`d` with some or all of its tools offered by one or two MCP servers (names from the held-out
    or the training pairs); the rest stay in `functions`, so both kinds meet in one prompt."""
    names = HELD_OUT_NAMES if held_out else TRAINING_NAMES
    tools = [t.name for t in d.tools]
    if not tools:
        return d
    if len(tools) == 1 or rng.random() < ALL_IN_ONE:
        ns = rng.choice(names)
        return replace(d, mcp=dict.fromkeys(tools, ns))
    servers = rng.sample(names, 2)
    placed = {t: rng.choice([None, *servers]) for t in tools}
    if all(ns is None for ns in placed.values()):
        placed[rng.choice(tools)] = servers[0]
    return replace(d, mcp={t: ns for t, ns in placed.items() if ns is not None})


def called_name(d: Dialogue, tool: str) -> str:
    """How a call to `tool` is named in the API messages: `ns.tool` in a namespace, else `tool`."""
    ns = d.mcp.get(tool)
    return f"{ns}.{tool}" if ns else tool
