"""Completions on raw prompts, the Models routes, and vLLM-style /tokenize and /detokenize."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from gossamer.harmony.conversation import Conversation, FunctionTool, Message
from gossamer.harmony.render import render_conversation
from gossamer.harmony.tokenizer import decode_text, encode_text
from tests.server.conftest import MODEL_NAME, LiveApp
from tests.spec_validation import validate


@pytest.fixture(scope="module")
def client(scripted_app: LiveApp) -> openai.OpenAI:
    return openai.OpenAI(base_url=scripted_app.base_url, api_key="unused", max_retries=0)


def test_completion_on_text_and_on_ids(scripted_app: LiveApp, client: openai.OpenAI) -> None:
    answer = client.completions.create(model=MODEL_NAME, prompt="Once upon a time", max_tokens=200)
    assert isinstance(answer, openai.types.Completion)
    text = answer.choices[0].text
    # The scripted model answers in harmony; a raw completion shows it verbatim up to the first
    # stop token (<|end|> closes the analysis message).
    assert text == "<|channel|>analysis<|message|>The user greets me. I should greet back."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.prompt_tokens == len(encode_text("Once upon a time"))
    ids = encode_text("Once upon a time")
    by_ids = client.completions.create(model=MODEL_NAME, prompt=ids, max_tokens=200)
    assert by_ids.choices[0].text == text
    assert scripted_app.engine.requests[-1].prompt_ids == ids


def test_completion_prompt_may_spell_special_tokens(scripted_app: LiveApp, client: openai.OpenAI) -> None:
    client.completions.create(model=MODEL_NAME, prompt="<|start|>user<|message|>hi<|end|>", max_tokens=3)
    assert scripted_app.engine.requests[-1].prompt_ids[0] == 200006  # <|start|> as the control token


def test_completion_stream_logprobs_and_spec(scripted_app: LiveApp, client: openai.OpenAI) -> None:
    whole = client.completions.create(model=MODEL_NAME, prompt="Hi", max_tokens=6, logprobs=2)
    logprobs = whole.choices[0].logprobs
    assert logprobs is not None and len(logprobs.tokens) == 6 == len(logprobs.token_logprobs)
    assert "".join(logprobs.tokens) == whole.choices[0].text
    assert all(len(top) == 2 for top in logprobs.top_logprobs)
    assert whole.choices[0].finish_reason == "length"
    streamed = ""
    for chunk in client.completions.create(model=MODEL_NAME, prompt="Hi", max_tokens=6, stream=True):
        assert isinstance(chunk, openai.types.Completion)
        streamed += chunk.choices[0].text if chunk.choices else ""
    assert streamed == whole.choices[0].text
    raw = httpx.post(
        scripted_app.base_url + "/completions",
        json={"model": MODEL_NAME, "prompt": "Hi", "max_tokens": 4, "logprobs": 1, "echo": True},
        timeout=30,
    ).json()
    validate(raw, "CreateCompletionResponse")
    assert raw["choices"][0]["text"].startswith("Hi")
    assert raw["choices"][0]["logprobs"]["text_offset"][0] == len("Hi")  # offsets count the echoed prompt


def test_completion_stop_string_and_n(client: openai.OpenAI) -> None:
    answer = client.completions.create(
        model=MODEL_NAME, prompt="Hi", max_tokens=50, stop=["<|message|>"], n=2
    )
    assert [c.text for c in answer.choices] == ["<|channel|>analysis"] * 2
    assert all(c.finish_reason == "stop" for c in answer.choices)


def test_models_list_and_retrieve(scripted_app: LiveApp, client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL_NAME]
    for alias in ("gpt-oss-20b", "openai/gpt-oss-20b", "gpt-oss:20b"):
        assert client.models.retrieve(alias).id == MODEL_NAME
    raw = httpx.get(scripted_app.base_url + "/models", timeout=10).json()
    validate(raw, "ListModelsResponse")
    validate(raw["data"][0], "Model")


def test_tokenize_chat_is_the_exact_harmony_prompt(scripted_app: LiveApp) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    body = {
        "model": MODEL_NAME,
        "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Weather?"}],
        "tools": [tool],
        "reasoning_effort": "low",
    }
    answer = httpx.post(scripted_app.url + "/tokenize", json=body, timeout=30).json()
    expected = render_conversation(
        Conversation(
            messages=[
                Message(role="developer", content="Be brief."),
                Message(role="user", content="Weather?"),
            ],
            tools=[FunctionTool("get_weather", "", tool["function"]["parameters"])],
            reasoning_effort="low",
        )
    ).prompt_ids
    assert answer["tokens"] == list(expected)
    assert answer["count"] == len(expected) and answer["max_model_len"] == 4096
    bare = httpx.post(scripted_app.url + "/tokenize", json={**body, "add_generation_prompt": False}).json()
    assert answer["tokens"][: bare["count"]] == bare["tokens"]
    assert decode_text(answer["tokens"][bare["count"] :]) == "<|start|>assistant"
    # The chat route runs exactly this prompt.
    httpx.post(scripted_app.base_url + "/chat/completions", json=body, timeout=30).raise_for_status()
    assert scripted_app.engine.requests[-1].prompt_ids == answer["tokens"]


def test_tokenize_prompt_and_detokenize_roundtrip(scripted_app: LiveApp) -> None:
    text = "Héllo, wörld! 你好 <|start|>"
    answer = httpx.post(
        scripted_app.url + "/tokenize",
        json={"model": MODEL_NAME, "prompt": text, "return_token_strs": True},
        timeout=30,
    ).json()
    assert answer["count"] == len(answer["tokens"]) == len(answer["token_strs"])
    back = httpx.post(
        scripted_app.url + "/detokenize", json={"model": MODEL_NAME, "tokens": answer["tokens"]}
    )
    assert back.json() == {"prompt": text}
    assert decode_text(answer["tokens"]) == text


def test_health_and_metrics(scripted_app: LiveApp, client: openai.OpenAI) -> None:
    client.chat.completions.create(model=MODEL_NAME, messages=[{"role": "user", "content": "hi"}])
    health = httpx.get(scripted_app.url + "/health", timeout=10).json()
    assert health["status"] == "ok" and health["model"] == MODEL_NAME
    assert {"num_running", "num_waiting", "kv_usage", "num_aborted", "prefix_hit_rate"} <= set(
        health["engine"]
    )
    metrics = httpx.get(scripted_app.url + "/metrics", timeout=10).text
    for name in (
        "gossamer_http_requests_total",
        "gossamer_prompt_tokens_total",
        "gossamer_generation_tokens_total",
        "gossamer_time_to_first_token_seconds_bucket",
        "gossamer_inter_token_latency_seconds_bucket",
        "gossamer_requests_waiting",
        "gossamer_kv_cache_usage_ratio",
        "gossamer_prefix_cache_hit_ratio",
    ):
        assert name in metrics, name
    line = next(x for x in metrics.splitlines() if x.startswith("gossamer_generation_tokens_total"))
    assert float(line.split()[-1]) > 0
    assert json.loads(json.dumps(health))  # plain JSON, no custom types


def test_incremental_detokenizer_never_splits_a_character() -> None:
    from gossamer.server.detokenizer import IncrementalDetokenizer

    text = "naïve 你好 🙂 done"
    ids = encode_text(text)
    detok = IncrementalDetokenizer()
    pieces = [detok.push([t]) for t in ids] + [detok.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
