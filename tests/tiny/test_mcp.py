"""MCP namespaces in gossamer-tiny's conversations (issue 23): rendered as the server renders an
MCP server's tools, called as `NAMESPACE.TOOL`, and named apart for training and evaluation."""

from __future__ import annotations

import random

from gossamer.tiny.dialogue import sample_dialogue
from gossamer.tiny.mcp import HELD_OUT_NAMES, TRAINING_NAMES, with_namespaces
from gossamer.tiny.served import prompt_ids, render_dialogue


def _tool_dialogue(rng: random.Random, held_out: bool = False):
    while True:
        d = sample_dialogue(rng, held_out=held_out, augment=0 if held_out else 4)
        if d.turns[-1].calls:
            return with_namespaces(d, rng, held_out=held_out)


def test_a_servers_tools_render_in_its_namespace_and_are_called_there(encoding) -> None:
    rng = random.Random(2)
    for _ in range(30):
        d = _tool_dialogue(rng)
        ids, mask = render_dialogue(d, encoding, rng)
        text = encoding.decode_utf8(ids)
        written = encoding.decode_utf8([t for t, m in zip(ids, mask, strict=True) if m])
        for tool, ns in d.mcp.items():
            assert f"namespace {ns} {{" in text and f"type {tool} = " in text
            assert f"to=functions.{tool}" not in text
        for call in d.turns[-1].calls:
            ns = d.mcp.get(call.schema.name)
            assert f"to={ns or 'functions'}.{call.schema.name}" in written
            if ns:
                assert f"<|start|>{ns}.{call.schema.name} to=assistant<|channel|>commentary" in text
        assert written.endswith("<|return|>")


def test_namespaces_and_functions_meet_in_one_developer_message(encoding) -> None:
    rng = random.Random(4)
    mixed = 0
    for _ in range(200):
        d = _tool_dialogue(rng)
        if d.mcp and len(d.mcp) < len(d.tools):
            mixed += 1
            prompt = encoding.decode_utf8(prompt_ids(d, []))
            assert (
                "namespace functions {" in prompt and f"namespace {next(iter(d.mcp.values()))} {{" in prompt
            )
    assert mixed > 10


def test_held_out_names_never_train_and_use_only_trained_words() -> None:
    assert not set(HELD_OUT_NAMES) & set(TRAINING_NAMES)
    words = {w for name in TRAINING_NAMES for w in name.split("_")}
    assert all(set(name.split("_")) <= words for name in HELD_OUT_NAMES)
    rng = random.Random(9)
    assert all(set(_tool_dialogue(rng).mcp.values()) <= set(TRAINING_NAMES) for _ in range(100))
    assert all(set(_tool_dialogue(rng, True).mcp.values()) <= set(HELD_OUT_NAMES) for _ in range(100))
