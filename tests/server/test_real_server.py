"""Black-box: the real server process (`python -m gossamer.server.main`) on a real tiny model.

Driven with the official openai SDK, sync and async, streamed and not, every answer and chunk
parsed into the SDK's typed models; raw HTTP for what the SDK cannot send. The model is the
embedded gossamer-tiny when this build has it, else random tiny weights (which rarely leave the
harmony header, so greedy comparisons also use raw completions, whose text shows every token).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.server.conftest import free_port
from tests.spec_validation import validate

REPO = Path(__file__).resolve().parents[2]
MODEL_NAME = "gpt-oss-20b"  # served under this name to exercise the aliases clients send
CONTEXT = 1024
HI = [{"role": "user", "content": "hi"}]

pytestmark = pytest.mark.slow


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def model_dir(tmp: Path) -> Path:
    try:
        from gossamer.tiny import model_path

        return model_path()
    except Exception:  # no embedded model in this build: random weights of the same shape
        from gossamer.model.config import PRESETS
        from gossamer.testing.checkpoint import write_checkpoint

        return write_checkpoint(tmp / "tiny-random", PRESETS["tiny"], layout="original", seed=0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("real-server")
    port = free_port()
    log_path = tmp / "server.log"
    command = [
        sys.executable, "-m", "gossamer.server.main",
        "--model", str(model_dir(tmp)),
        "--served-model-name", MODEL_NAME,
        "--port", str(port),
        "--dtype", "float32",
        "--max-context-length", str(CONTEXT),
        "--kv-cache-memory-bytes", "64MiB",
        "--max-concurrent-requests", "32",
        "--shutdown-timeout-s", "30",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    srv = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{srv.log()}")
        try:
            if httpx.get(srv.url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"server did not start:\n{srv.log()}")
        time.sleep(0.25)
    yield srv
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120) as client:
        yield client


def engine_stats(server: ServerProcess) -> dict:
    return httpx.get(server.url + "/health", timeout=10).json()["engine"]


def test_sync_chat_whole_and_streamed(server: ServerProcess, client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model="openai/gpt-oss-20b", messages=HI, max_tokens=12, temperature=0
    )
    assert isinstance(whole, openai.types.chat.ChatCompletion)
    assert whole.model == MODEL_NAME
    choice = whole.choices[0]
    assert choice.finish_reason in ("stop", "length", "tool_calls")
    assert whole.usage.completion_tokens <= 12 and whole.usage.prompt_tokens > 0
    assert whole.usage.completion_tokens_details.reasoning_tokens <= whole.usage.completion_tokens
    content, reasoning, finish, usage = "", "", None, None
    stream = client.chat.completions.create(
        model="gpt-oss:20b",
        messages=HI,
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        assert isinstance(chunk, openai.types.chat.ChatCompletionChunk)
        usage = chunk.usage or usage
        for c in chunk.choices:
            content += c.delta.content or ""
            reasoning += (c.delta.model_extra or {}).get("reasoning") or ""
            finish = c.finish_reason or finish
    assert content == (choice.message.content or "")
    assert reasoning == ((choice.message.model_extra or {}).get("reasoning") or "")
    assert finish == choice.finish_reason
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens


def test_raw_answers_match_openapi(server: ServerProcess) -> None:
    body = {"model": MODEL_NAME, "messages": HI, "max_tokens": 6, "logprobs": True, "top_logprobs": 3}
    validate(httpx.post(server.base_url + "/chat/completions", json=body, timeout=60).json(),
               "CreateChatCompletionResponse")  # fmt: skip
    text = httpx.post(
        server.base_url + "/chat/completions",
        json={**body, "stream": True, "stream_options": {"include_usage": True}},
        timeout=60,
    ).text
    frames = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    for frame in frames[:-1]:
        validate(json.loads(frame), "CreateChatCompletionStreamResponse")
    completion = httpx.post(
        server.base_url + "/completions",
        json={"model": MODEL_NAME, "prompt": "Hello", "max_tokens": 6, "logprobs": 2},
        timeout=60,
    ).json()
    validate(completion, "CreateCompletionResponse")
    assert len(completion["choices"][0]["logprobs"]["tokens"]) <= 6
    validate(httpx.get(server.base_url + "/models", timeout=10).json(), "ListModelsResponse")


def test_completion_greedy_stream_equals_whole(client: openai.OpenAI) -> None:
    whole = client.completions.create(
        model=MODEL_NAME, prompt="Once upon a time", max_tokens=10, temperature=0
    )
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model=MODEL_NAME, prompt="Once upon a time", max_tokens=10, temperature=0, stream=True
        )
        if c.choices
    )
    assert streamed == whole.choices[0].text
    assert whole.usage.completion_tokens >= 1


def test_completion_batched_prompts(server: ServerProcess, client: openai.OpenAI) -> None:
    """A list of prompts (text or ids) answers every one, choices indexed prompt by prompt (p * n + i),
    each greedy text equal to the same prompt sent alone; streamed, the chunks fold to the same."""
    prompts = ["Once upon a time", "The list:", "Hello there"]
    greedy = {"model": MODEL_NAME, "max_tokens": 8, "temperature": 0}
    singles = [client.completions.create(prompt=p, **greedy) for p in prompts]
    alone = [single.choices[0].text for single in singles]
    batch = client.completions.create(prompt=prompts, n=2, **greedy)
    validate(batch.model_dump(exclude_unset=True), "CreateCompletionResponse")
    assert [c.index for c in batch.choices] == list(range(6))
    assert [c.text for c in batch.choices] == [text for text in alone for _ in range(2)]
    assert batch.usage.prompt_tokens == sum(single.usage.prompt_tokens for single in singles)
    assert batch.usage.completion_tokens == 2 * sum(single.usage.completion_tokens for single in singles)
    texts = ["" for _ in range(3)]
    last_usage = None
    for chunk in client.completions.create(
        prompt=prompts, stream=True, stream_options={"include_usage": True}, **greedy
    ):
        for c in chunk.choices:
            texts[c.index] += c.text
        last_usage = chunk.usage or last_usage
    assert texts == alone
    assert last_usage is not None and last_usage.prompt_tokens == batch.usage.prompt_tokens
    ids = [[9906, 1917], [5159, 382]]
    by_ids = client.completions.create(model=MODEL_NAME, prompt=ids, max_tokens=4, temperature=0)
    assert len(by_ids.choices) == 2 and by_ids.usage.prompt_tokens == 4


def test_completion_batch_errors_leave_nothing_running(server: ServerProcess) -> None:
    url = server.base_url + "/completions"
    for prompt, says in (([], "empty"), (["ok", ""], "empty"), ([[1, 2], [3, -4]], "outside"),
                         (["x"] * 65, "at most 64")):
        reply = httpx.post(url, json={"model": MODEL_NAME, "prompt": prompt, "max_tokens": 4}, timeout=30)
        assert reply.status_code == 400 and says in reply.json()["error"]["message"]
    too_long = ["short", "word " * (CONTEXT + 10)]
    reply = httpx.post(url, json={"model": MODEL_NAME, "prompt": too_long, "max_tokens": 4}, timeout=30)
    assert reply.status_code == 400
    ok = httpx.post(url, json={"model": MODEL_NAME, "prompt": ["a", "b"], "max_tokens": 2}, timeout=60)
    assert ok.status_code == 200 and len(ok.json()["choices"]) == 2


def test_stop_string_cuts_and_frees_the_sequence(server: ServerProcess, client: openai.OpenAI) -> None:
    prompt = "The list:"
    full = (
        client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=12, temperature=0)
        .choices[0]
        .text
    )
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    if not stop.strip():
        pytest.skip("the model's greedy text has no usable stop string here")
    cut = client.completions.create(
        model=MODEL_NAME, prompt=prompt, max_tokens=12, temperature=0, stop=[stop]
    )
    assert cut.choices[0].text == full[: full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    # Stopped by text, the sequence is aborted in the engine (unless it had finished already): freed.
    deadline = time.monotonic() + 10
    while engine_stats(server)["num_running"]:
        assert time.monotonic() < deadline, engine_stats(server)
        time.sleep(0.05)


async def test_async_client(server: ServerProcess) -> None:
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0, timeout=120
    ) as client:
        whole = await client.chat.completions.create(
            model=MODEL_NAME, messages=HI, max_tokens=8, temperature=0
        )
        assert isinstance(whole, openai.types.chat.ChatCompletion)
        stream = await client.chat.completions.create(
            model=MODEL_NAME, messages=HI, max_tokens=8, temperature=0, stream=True
        )
        chunks = [chunk async for chunk in stream]
        assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
        assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
        models = await client.models.list()
        assert [m.id for m in models.data] == [MODEL_NAME]


async def test_32_concurrent_streams_equal_their_whole_twins(server: ServerProcess) -> None:
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0, timeout=300
    ) as client:

        async def whole(i: int) -> str:
            answer = await client.completions.create(
                model=MODEL_NAME, prompt=f"Story number {i}:", max_tokens=8, temperature=0
            )
            return answer.choices[0].text

        async def streamed(i: int) -> str:
            stream = await client.completions.create(
                model=MODEL_NAME, prompt=f"Story number {i}:", max_tokens=8, temperature=0, stream=True
            )
            return "".join([c.choices[0].text async for c in stream if c.choices])

        wholes = await asyncio.gather(*(whole(i) for i in range(32)))
        streams = await asyncio.gather(*(streamed(i) for i in range(32)))
    assert streams == wholes
    assert len(set(wholes)) > 1  # different prompts, different continuations: the test can fail


async def test_32_concurrent_chat_streams_equal_their_whole_twins(server: ServerProcess) -> None:
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0, timeout=300
    ) as client:

        def request(i: int) -> dict:
            return {"model": MODEL_NAME, "messages": [{"role": "user", "content": f"Tell me about {i}"}],
                    "max_tokens": 8, "temperature": 0}  # fmt: skip

        async def whole(i: int) -> tuple:
            answer = await client.chat.completions.create(**request(i))
            choice = answer.choices[0]
            reasoning = (choice.message.model_extra or {}).get("reasoning") or ""
            return (
                choice.message.content or "",
                reasoning,
                choice.finish_reason,
                answer.usage.completion_tokens,
            )

        async def streamed(i: int) -> tuple:
            stream = await client.chat.completions.create(
                **request(i), stream=True, stream_options={"include_usage": True}
            )
            content, reasoning, finish, num_tokens = "", "", None, None
            async for chunk in stream:
                if chunk.usage is not None:
                    num_tokens = chunk.usage.completion_tokens
                for c in chunk.choices:
                    content += c.delta.content or ""
                    reasoning += (c.delta.model_extra or {}).get("reasoning") or ""
                    finish = c.finish_reason or finish
            return content, reasoning, finish, num_tokens

        wholes = await asyncio.gather(*(whole(i) for i in range(32)))
        streams = await asyncio.gather(*(streamed(i) for i in range(32)))
    assert streams == wholes
    assert all(finish is not None for _, _, finish, _ in streams)


def test_disconnect_mid_stream_aborts_in_engine(server: ServerProcess) -> None:
    before = engine_stats(server)["num_aborted"]
    body = {"model": MODEL_NAME, "prompt": "Count:", "max_tokens": 500, "stream": True, "temperature": 0}
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", server.base_url + "/completions", json=body) as r,
    ):
        assert r.status_code == 200
        lines = r.iter_lines()
        next(line for line in lines if line.startswith("data: "))
    deadline = time.monotonic() + 30
    while engine_stats(server)["num_aborted"] <= before:
        assert time.monotonic() < deadline, engine_stats(server)
        time.sleep(0.1)
    assert engine_stats(server)["num_running"] == 0


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"messages": [{"role": "user", "content": "word " * 1500}]}, 400, None),
        ({"messages": HI, "max_tokens": -3}, 400, "max_tokens"),
        ({"messages": HI, "n": 10_000}, 400, "n"),
        ({"messages": HI, "logit_bias": {"abc": 1}}, 400, "logit_bias"),
        ({"messages": [], "model": MODEL_NAME}, 400, "messages"),
        ({"messages": HI, "model": "llama-3"}, 404, "model"),
    ],
)
def test_bad_input_on_the_real_server(
    server: ServerProcess, body: dict, status: int, param: str | None
) -> None:
    response = httpx.post(
        server.base_url + "/chat/completions", json={"model": MODEL_NAME, **body}, timeout=60
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if param:
        assert error["param"] == param
    if status == 400 and param is None:
        assert str(CONTEXT) in error["message"] and error["code"] == "context_length_exceeded"
    ok = httpx.post(
        server.base_url + "/completions", json={"model": MODEL_NAME, "prompt": "hi", "max_tokens": 2}
    )
    assert ok.status_code == 200


def test_graceful_shutdown_lets_a_running_stream_finish(server: ServerProcess) -> None:
    """Last in the module: SIGTERM while a stream runs; the stream still ends with [DONE]."""
    frames: list[str] = []
    started = threading.Event()

    def consume() -> None:
        body = {"model": MODEL_NAME, "prompt": "Go:", "max_tokens": 60, "stream": True, "temperature": 0}
        with httpx.stream("POST", server.base_url + "/completions", json=body, timeout=120) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    frames.append(line[6:])
                    started.set()

    reader = threading.Thread(target=consume)
    reader.start()
    assert started.wait(60)
    server.process.send_signal(signal.SIGTERM)
    reader.join(timeout=120)
    assert frames[-1] == "[DONE]", frames[-3:]
    # uvicorn re-raises the signal once it has shut down cleanly, so -SIGTERM is a clean exit too.
    assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log()
