"""Ollama request -> conversation and sampling parameters (pure functions)."""

from __future__ import annotations

import pytest

from gossamer.server.ollama.convert import OllamaError, chat_conversation, sampling_params, think_mode
from gossamer.server.ollama.protocol import ChatRequest, Options
from gossamer.turn import ContextOverflow
from gossamer.turn.prompt import check_fits, resolve_params


def params(num_prompt_tokens: int = 40, **options):
    """Ollama's options as the turn pipeline settles them (num_ctx as a tighter context, clipped)."""
    opts = Options(**options)
    limit = min(opts.num_ctx or 1000, 1000)
    check_fits(num_prompt_tokens, limit)
    base = sampling_params(opts)
    return resolve_params(base, num_prompt_tokens, [200002], limit, 1000, clip_max_tokens=True)


def test_max_tokens_from_num_ctx_and_num_predict():
    assert params().max_tokens == 960  # whatever room the context leaves
    assert params(num_ctx=100).max_tokens == 60
    assert params(num_ctx=5000).max_tokens == 960  # num_ctx is capped by the model's context
    assert params(num_predict=5).max_tokens == 5
    assert params(num_predict=-1).max_tokens == 960
    assert params(num_ctx=100, num_predict=500).max_tokens == 60
    assert params(num_predict=0).max_tokens == 1
    with pytest.raises(ContextOverflow):
        params(num_prompt_tokens=100, num_ctx=100)


def test_sampling_options_and_defaults():
    p = params(temperature=0.0, top_p=0.5, top_k=40, seed=3)
    assert (p.temperature, p.top_p, p.top_k, p.seed, p.stop_token_ids) == (0.0, 0.5, 40, 3, (200002,))
    assert (params().temperature, params().top_p) == (1.0, 1.0)  # the model card's recommendation


@pytest.mark.parametrize(
    ("think", "effort", "show"),
    [
        (None, "medium", True),
        (True, "medium", True),
        (False, "low", False),
        ("low", "low", True),
        ("high", "high", True),
    ],
)
def test_think(think, effort, show):
    mode = think_mode(think)
    assert (mode.effort, mode.show) == (effort, show)


def test_tool_results_answer_the_call_they_name():
    req = ChatRequest.model_validate(
        {
            "model": "gpt-oss",
            "messages": [
                {"role": "user", "content": "weather and time?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                        {"function": {"name": "get_time", "arguments": {}}},
                    ],
                },
                {"role": "tool", "tool_name": "get_time", "content": "noon"},
                {"role": "tool", "tool_name": "get_weather", "content": "sunny"},
            ],
        }
    )
    conv = chat_conversation(req)
    calls = {c.name: c.call_id for c in conv.messages[1].tool_calls}
    assert conv.messages[1].tool_calls[0].arguments == '{"city": "Paris"}'
    assert (conv.messages[2].tool_call_id, conv.messages[2].name) == (calls["get_time"], "get_time")
    assert (conv.messages[3].tool_call_id, conv.messages[3].name) == (calls["get_weather"], "get_weather")


def test_bad_messages_are_refused():
    with pytest.raises(OllamaError, match="no tool call before it"):
        chat_conversation(
            ChatRequest.model_validate({"model": "gpt-oss", "messages": [{"role": "tool", "content": "x"}]})
        )
    with pytest.raises(OllamaError, match="images are not supported"):
        chat_conversation(
            ChatRequest.model_validate(
                {"model": "gpt-oss", "messages": [{"role": "user", "content": "x", "images": ["aGk="]}]}
            )
        )
