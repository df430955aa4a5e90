"""The official `ollama` Python client against a real gossamer server (scripted engine, tiny checkpoint)."""

from __future__ import annotations

from pathlib import Path

import ollama
import pytest

import gossamer
from gossamer.model.config import PRESETS
from gossamer.testing.checkpoint import write_checkpoint
from gossamer.testing.fake_hub import FakeHub
from tests.cli.live_server import LiveServer, live_server
from tests.cli.small_checkpoint import write_small_checkpoint

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "gpt-oss-tiny", PRESETS["tiny"], layout="hf")


@pytest.fixture(scope="module")
def server(checkpoint) -> LiveServer:
    # Local paths allowed: these tests pull and show model folders (tests/reliability covers "off").
    with live_server(checkpoint, model_name="gpt-oss-20b", allow_local_paths=True) as s:
        yield s


@pytest.fixture
def client(server, tmp_path, monkeypatch) -> ollama.Client:
    # Model management routes read these at call time: keep them off the user's caches.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("GOSSAMER_HOME", str(tmp_path / "gossamer"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    return ollama.Client(host=server.url)


def test_chat_not_streamed_returns_thinking_and_answer(client):
    r = client.chat(model="gpt-oss:20b", messages=[{"role": "user", "content": "hello"}])
    assert r.message.content == "You said: hello. Effort medium."
    assert r.message.thinking == "Thinking at medium effort about: hello"
    assert r.done and r.done_reason == "stop"
    assert r.prompt_eval_count > 0 and r.eval_count > 0


def test_chat_streamed(client):
    chunks = list(client.chat(model="gpt-oss-20b", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert len(chunks) > 5  # token by token
    assert all(not c.done for c in chunks[:-1]) and chunks[-1].done
    thinking = "".join(c.message.thinking or "" for c in chunks)
    content = "".join(c.message.content or "" for c in chunks)
    assert thinking == "Thinking at medium effort about: hi"
    assert content == "You said: hi. Effort medium."
    # Thinking streams before the answer.
    first_content = next(i for i, c in enumerate(chunks) if c.message.content)
    assert all(not c.message.thinking for c in chunks[first_content:])


@pytest.mark.parametrize("think", ["low", "medium", "high"])
def test_think_levels_set_the_reasoning_effort(client, think):
    r = client.chat(model="gpt-oss:20b", messages=[{"role": "user", "content": "x"}], think=think)
    assert r.message.content.endswith(f"Effort {think}.")
    assert r.message.thinking.startswith(f"Thinking at {think} effort")


def test_think_false_hides_the_thinking(client):
    r = client.chat(model="gpt-oss:20b", messages=[{"role": "user", "content": "x"}], think=False)
    assert r.message.thinking is None
    assert r.message.content == "You said: x. Effort low."


@pytest.mark.parametrize("stream", [False, True])
def test_tools_round_trip(client, stream):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        chunks = list(client.chat(model="gpt-oss:20b", messages=messages, tools=[WEATHER_TOOL], stream=True))
        calls = [call for c in chunks for call in (c.message.tool_calls or [])]
    else:
        r = client.chat(model="gpt-oss:20b", messages=messages, tools=[WEATHER_TOOL])
        calls = r.message.tool_calls
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == {"city": "Paris"}

    messages += [
        {"role": "assistant", "content": "", "tool_calls": [calls[0].model_dump(exclude_none=True)]},
        {"role": "tool", "tool_name": "get_weather", "content": "sunny, 21 C"},
    ]
    r = client.chat(model="gpt-oss:20b", messages=messages, tools=[WEATHER_TOOL])
    assert r.message.content == "The weather: sunny, 21 C"
    assert not r.message.tool_calls


def test_options_reach_the_engine(client, server):
    client.chat(
        model="gpt-oss:20b",
        messages=[{"role": "user", "content": "x"}],
        options={"temperature": 0.5, "top_p": 0.9, "seed": 7},
    )
    params = server.engine.requests[-1].params
    assert (params.temperature, params.top_p, params.seed) == (0.5, 0.9, 7)


def test_num_predict_and_stop(client):
    r = client.chat(
        model="gpt-oss:20b", messages=[{"role": "user", "content": "x"}], options={"num_predict": 3}
    )
    assert r.done_reason == "length" and r.eval_count == 3
    r = client.chat(
        model="gpt-oss:20b", messages=[{"role": "user", "content": "abc"}], options={"stop": [". Effort"]}
    )
    assert r.message.content == "You said: abc"
    assert r.done_reason == "stop"


def test_num_ctx_smaller_than_the_prompt_is_refused_not_truncated(client):
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="gpt-oss:20b", messages=[{"role": "user", "content": "x"}], options={"num_ctx": 10})
    assert info.value.status_code == 400
    assert "num_ctx" in info.value.error


def test_generate_streamed_and_not(client):
    r = client.generate(model="gpt-oss:20b", prompt="hey")
    assert r.response == "You said: hey. Effort medium."
    assert r.thinking == "Thinking at medium effort about: hey"
    parts = list(client.generate(model="gpt-oss:20b", prompt="hey", stream=True, think="high"))
    assert "".join(p.response for p in parts) == "You said: hey. Effort high."
    assert parts[-1].done


def test_generate_raw_mode_passes_the_prompt_through(client, server):
    prompt = "<|start|>user<|message|>raw words<|end|><|start|>assistant"
    r = client.generate(model="gpt-oss:20b", prompt=prompt, raw=True)
    sent = server.state.encoding.decode(server.engine.requests[-1].prompt_ids)
    assert sent == prompt  # no template, no system message added
    assert r.response.startswith("<|channel|>analysis<|message|>Thinking at unknown effort about: raw words")
    assert "<|channel|>final<|message|>You said: raw words" in r.response


def test_list_show_ps_version(client, server):
    names = [m.model for m in client.list().models]
    assert names[0] == "gpt-oss-20b"
    details = client.list().models[0].details
    assert details.family == "gpt-oss" and details.quantization_level == "MXFP4"

    shown = client.show("gpt-oss:20b")
    assert shown.modelinfo["gpt-oss.context_length"] == PRESETS["tiny"].max_context_length
    assert shown.modelinfo["gpt-oss.block_count"] == PRESETS["tiny"].num_layers
    assert shown.modelinfo["gpt-oss.expert_count"] == PRESETS["tiny"].num_experts
    assert {"tools", "thinking"} <= set(shown.capabilities)

    [loaded] = client.ps().models
    assert loaded.model == "gpt-oss-20b" and loaded.context_length == 8192
    # The weights on disk plus the engine's KV cache budget (1 GiB by default).
    assert loaded.size > (1 << 30) + (1 << 20)
    import httpx

    assert httpx.get(f"{server.url}/api/version").json()["version"] == gossamer.__version__


def test_pull_from_the_fake_hub_then_delete(client, tmp_path, monkeypatch):
    hub = FakeHub()
    hub.add_directory("openai/gpt-oss-120b", write_small_checkpoint(tmp_path / "src"))
    with hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        progress = list(client.pull("gpt-oss:120b", stream=True))
    statuses = [p.status for p in progress]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "verifying sha256 digest" in statuses
    downloads = [p for p in progress if p.total]
    assert downloads and downloads[-1].completed == downloads[-1].total

    assert "openai/gpt-oss-120b" in [m.model for m in client.list().models]
    assert client.show("gpt-oss-120b").modelinfo["general.architecture"] == "gpt-oss"
    assert client.delete("openai/gpt-oss-120b").status == "success"
    assert "openai/gpt-oss-120b" not in [m.model for m in client.list().models]
    with pytest.raises(ollama.ResponseError) as info:
        client.delete("openai/gpt-oss-120b")
    assert info.value.status_code == 404


def test_pull_without_network_is_an_error(client, monkeypatch):
    from tests.cli.live_server import free_port

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ollama.ResponseError) as info:
        client.pull("gpt-oss:20b")
    assert "HF_ENDPOINT" in info.value.error


def test_errors_are_ollama_shaped(client, server):
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama3", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 404 and "llama3" in info.value.error
    import httpx

    r = httpx.post(f"{server.url}/api/chat", json={"model": "gpt-oss:20b", "messages": "nope"})
    assert r.status_code == 400 and isinstance(r.json()["error"], str)
    as_json = {"content-type": "application/json"}
    r = httpx.post(f"{server.url}/api/chat", content=b"{not json", headers=as_json)
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = httpx.post(f"{server.url}/api/chat", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]  # what a page sends cross-site


def test_format_reaches_the_prompt(client, server):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    client.chat(model="gpt-oss:20b", messages=[{"role": "user", "content": "x"}], format=schema)
    prompt = server.state.encoding.decode(server.engine.requests[-1].prompt_ids)
    assert '{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}' in prompt
    client.chat(model="gpt-oss:20b", messages=[{"role": "user", "content": "x"}], format="json")
    prompt = server.state.encoding.decode(server.engine.requests[-1].prompt_ids)
    assert "Respond with a single JSON object" in prompt


def test_show_unknown_model_and_pull_of_a_local_directory(client, tmp_path):
    with pytest.raises(ollama.ResponseError) as info:
        client.show("llama3")
    assert info.value.status_code == 404
    directory = write_small_checkpoint(tmp_path / "mine")
    assert client.pull(str(directory)).status == "success"
    assert "mine" in [m.model for m in client.list().models]
    assert client.delete("mine").status == "success"
    assert directory.is_dir()


@pytest.mark.parametrize("stop_token_in_output", [True, False])
def test_both_stop_token_shapes_of_the_engine(client, server, caplog, stop_token_in_output):
    server.engine.stop_token_in_output = stop_token_in_output
    try:
        r = client.chat(model="gpt-oss:20b", messages=[{"role": "user", "content": "s"}])
        assert (r.message.content, r.done_reason) == ("You said: s. Effort medium.", "stop")
        r = client.chat(
            model="gpt-oss:20b", messages=[{"role": "user", "content": "w"}], tools=[WEATHER_TOOL]
        )
        assert r.message.tool_calls[0].function.arguments == {"city": "Paris"}
    finally:
        server.engine.stop_token_in_output = True
    assert "after the end of the completion" not in caplog.text


def test_unsupported_routes_say_so(client):
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model="gpt-oss:20b", input="x")
    assert info.value.status_code == 501 and "embeddings" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        client.copy("gpt-oss:20b", "mine")
    assert info.value.status_code == 501


def test_a_client_that_hangs_up_aborts_its_request(server):
    import time

    import httpx

    server.engine.step_delay_s = 0.2  # a slow model: the reply takes seconds
    try:
        body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "long"}]}
        with httpx.stream("POST", f"{server.url}/api/chat", json=body, timeout=30) as response:
            next(response.iter_lines())  # the first chunk, then hang up
        request = server.engine.requests[-1]
        deadline = time.monotonic() + 5
        while not request.aborted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert request.aborted and not request.finished
    finally:
        server.engine.step_delay_s = 0.01


def test_a_client_that_hangs_up_on_a_non_streamed_chat_aborts_it(server):
    import time

    import httpx

    server.engine.step_delay_s = 0.2
    try:
        body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "long"}], "stream": False}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.url}/api/chat", json=body, timeout=1.0)
        request = server.engine.requests[-1]
        deadline = time.monotonic() + 5
        while not request.aborted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert request.aborted and not request.finished
    finally:
        server.engine.step_delay_s = 0.01
