"""Malformed harmony from the model never breaks a response (peers answer these with a 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from gossamer.harmony.tokenizer import load_harmony_encoding
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import MODEL_NAME, LiveApp, start_app

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
ARGS = '{"city": "Paris"}'
# What the model writes after the prompt's `<|start|>assistant`.
REPLIES = {
    "recipient-in-role": f" to=functions.get_weather<|channel|>commentary json<|message|>{ARGS}<|call|>",
    "recipient-on-analysis": f"<|channel|>analysis to=functions.get_weather<|message|>{ARGS}<|call|>",
    "odd-channel": "<|channel|>––commentary<|message|>Hi there.<|end|>",
    "stray-return-after-end": "<|channel|>final<|message|>Done.<|end|><|return|>",
    "no-header-at-all": "<|message|>plain text<|return|>",
    "garbage-specials": "<|channel|><|channel|><|message|><|end|><|start|><|return|>",
}


@pytest.fixture(scope="module")
def app() -> Iterator[LiveApp]:
    encoding = load_harmony_encoding()
    engine = ScriptedEngine(lambda prompt, params, index: [])
    live = start_app(engine)

    def script(name: str) -> list[int]:
        return list(encoding.encode(REPLIES[name], allowed_special="all"))

    live.script_for = script  # type: ignore[attr-defined]
    yield live
    live.stop()


@pytest.mark.parametrize("name", list(REPLIES))
@pytest.mark.parametrize("stream", [False, True])
def test_malformed_reply_is_answered(app: LiveApp, name: str, stream: bool) -> None:
    app.engine.script = app.script_for(name)  # type: ignore[attr-defined]
    body = {
        "model": MODEL_NAME,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": TOOLS,
        "stream": stream,
    }
    response = httpx.post(app.base_url + "/chat/completions", json=body, timeout=30)
    assert response.status_code == 200
    if stream:
        frames = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        assert frames[-1] == "[DONE]"
        chunks = [json.loads(f) for f in frames[:-1]]
        assert all("error" not in c for c in chunks)
        finish = [c["finish_reason"] for chunk in chunks for c in chunk["choices"] if c["finish_reason"]]
        tool_calls = [
            tc for chunk in chunks for c in chunk["choices"] for tc in c["delta"].get("tool_calls", [])
        ]
        content = "".join(c["delta"].get("content") or "" for chunk in chunks for c in chunk["choices"])
    else:
        choice = response.json()["choices"][0]
        finish = [choice["finish_reason"]]
        tool_calls = choice["message"].get("tool_calls") or []
        content = choice["message"]["content"] or ""
    if name.startswith("recipient"):
        # Both are real tool calls (a known peer failure treats them as text).
        assert finish == ["tool_calls"]
        assert tool_calls[0]["function"]["name"] == "get_weather"
    else:
        assert len(finish) == 1
    if name == "stray-return-after-end":
        assert content == "Done."  # the answer parsed before the stray token is kept
    for call in tool_calls:
        assert "<|" not in json.dumps(call)  # no special token leaks into names or arguments
