"""The vLLM and SGLang adapters against small local fakes that speak those engines' documented shapes
(tests/upstream/fakes.py), through a Gossamer front and the openai SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest

from gossamer.upstream import UpstreamConfigError
from tests.upstream.fakes import ANSWER, MODEL_ID, FakeServer, FakeState, sglang_app, start_fake, vllm_app
from tests.upstream.fleet import Front, sample, start_front

HARMONY_STOPS = {200002, 200012}  # <|return|>, <|call|>: every turn stops there
HI = [{"role": "user", "content": "Hi"}]


@contextmanager
def front_over(tmp_path, *fakes: tuple[str, FakeServer], **settings) -> Iterator[Front]:
    front = start_front(
        [f"{kind}+{fake.url}" for kind, fake in fakes], tmp_path / "front.sqlite3", **settings
    )
    try:
        yield front
    finally:
        front.stop()


@pytest.fixture
def fake_vllm() -> Iterator[FakeServer]:
    fake = start_fake(vllm_app)
    yield fake
    fake.stop()


def client(front: Front) -> openai.OpenAI:
    return openai.OpenAI(base_url=front.base_url, api_key="unused", max_retries=0)


def rendered_prompt(front: Front, **chat) -> list[int]:
    """The harmony prompt the front renders for a chat request (its /tokenize, vLLM-shaped)."""
    return httpx.post(front.url + "/tokenize", json={"model": MODEL_ID, **chat}).json()["tokens"]


def streams(fake: FakeServer) -> list[dict]:
    return [body for body in fake.state.received if body.get("stream")]  # not the start-up probe


def test_vllm_gets_token_ids_and_gives_them_back(tmp_path, fake_vllm):
    with front_over(tmp_path, ("vllm", fake_vllm)) as front:
        reply = client(front).chat.completions.create(model="gpt-oss-120b", messages=HI)
        assert reply.choices[0].message.content == ANSWER
        assert reply.choices[0].message.reasoning_content == "The user greets me."
        assert reply.usage.prompt_tokens_details.cached_tokens == 16  # from vLLM's usage event
        body = streams(fake_vllm)[-1]
        prompt = rendered_prompt(front, messages=HI)
        assert body["prompt"] == prompt and body["model"] == MODEL_ID
        assert body["return_token_ids"] is True and body["skip_special_tokens"] is False
        assert body["ignore_eos"] is True and set(body["stop_token_ids"]) >= HARMONY_STOPS
        assert body["max_tokens"] == 8192 - len(prompt)  # the upstream's context, from its /v1/models
        assert body["stream_options"] == {"include_usage": True}

        streamed = client(front).chat.completions.create(model=MODEL_ID, messages=HI, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == ANSWER


def test_sampling_fields_map_to_vllm_and_logprobs_come_back(tmp_path, fake_vllm):
    with front_over(tmp_path, ("vllm", fake_vllm)) as front:
        reply = client(front).chat.completions.create(
            model=MODEL_ID, messages=HI, temperature=0.3, top_p=0.9, seed=7, presence_penalty=0.5,
            frequency_penalty=0.25, logit_bias={"1000": 2}, logprobs=True, top_logprobs=3,
        )  # fmt: skip
        body = streams(fake_vllm)[-1]
        sent = {k: body[k] for k in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty",
                                     "logit_bias", "logprobs", "return_tokens_as_token_ids")}  # fmt: skip
        assert sent == {"temperature": 0.3, "top_p": 0.9, "seed": 7, "presence_penalty": 0.5,
                        "frequency_penalty": 0.25, "logit_bias": {"1000": 2.0}, "logprobs": 3,
                        "return_tokens_as_token_ids": True}  # fmt: skip
        content = reply.choices[0].logprobs.content
        assert content and all(t.logprob == -0.5 and len(t.top_logprobs) == 3 for t in content)

        # What vLLM refuses is refused, in its words, as the client's 400.
        with pytest.raises(openai.BadRequestError) as info:
            client(front).chat.completions.create(model=MODEL_ID, messages=HI, logprobs=True, top_logprobs=9)
        assert "greater than max allowed" in info.value.message


def test_n_fans_out_with_seeds_as_the_local_engine_gives_them(tmp_path, fake_vllm):
    with front_over(tmp_path, ("vllm", fake_vllm)) as front:
        reply = client(front).chat.completions.create(model=MODEL_ID, messages=HI, n=2, seed=5)
        assert [c.message.content for c in reply.choices] == [ANSWER, ANSWER]
        assert sorted(body["seed"] for body in streams(fake_vllm)[-2:]) == [5, 6]


def test_an_old_vllm_without_token_ids_fails_at_start(tmp_path):
    fake = start_fake(vllm_app, FakeState(return_token_ids=False))
    try:
        with pytest.raises(UpstreamConfigError, match="return_token_ids"):
            start_front([fake.url], tmp_path / "front.sqlite3")
    finally:
        fake.stop()


def test_a_per_upstream_api_key_from_the_config_file(tmp_path, monkeypatch):
    fake = start_fake(vllm_app, FakeState(api_key="sesame"))
    try:
        with pytest.raises(UpstreamConfigError, match="refused the API key"):
            start_front([fake.url], tmp_path / "a.sqlite3")
        config = tmp_path / "upstreams.toml"
        config.write_text(f'[[upstream]]\nurl = "{fake.url}"\napi_key_env = "FAKE_KEY"\n')
        monkeypatch.setenv("FAKE_KEY", "sesame")
        with front_over(tmp_path, upstream_config=str(config)) as front:
            assert (
                client(front).chat.completions.create(model=MODEL_ID, messages=HI).choices[0].message.content
            )
    finally:
        fake.stop()


def test_retry_on_another_replica_before_the_first_token(tmp_path, fake_vllm):
    flaky = start_fake(vllm_app, FakeState(fail_next=1))
    try:
        with front_over(tmp_path, ("vllm", flaky), ("vllm", fake_vllm)) as front:
            for _ in range(2):  # taken in turn: one of the two goes to the flaky one first
                reply = client(front).chat.completions.create(model=MODEL_ID, messages=HI)
                assert reply.choices[0].message.content == ANSWER
            metrics = front.state.metrics.render().decode()
            label = flaky.url.removeprefix("http://")
            assert (
                sample(metrics, "gossamer_upstream_requests_total", f'outcome="retried",upstream="{label}"')
                == 1
            )
            assert (
                sample(metrics, "gossamer_upstream_failures_total", f'kind="status",upstream="{label}"') == 1
            )
            assert front.engine.replicas[0].is_up  # one 503 is not enough to take a replica out
    finally:
        flaky.stop()


def test_closing_the_stream_aborts_upstream(tmp_path):
    long_answer = " ".join(f"word{i}" for i in range(300))
    from gossamer.testing.scripted_engine import harmony_reply

    fake = start_fake(vllm_app, FakeState(delay_s=0.02, script=lambda _: harmony_reply(final=long_answer)))
    try:
        with front_over(tmp_path, ("vllm", fake)) as front:
            body = {"model": MODEL_ID, "messages": HI, "stream": True}
            with httpx.stream(
                "POST", front.base_url + "/chat/completions", json=body, timeout=30
            ) as response:
                for _ in zip(range(3), response.iter_lines(), strict=False):
                    pass  # a few chunks, then the client goes away
            deadline = time.monotonic() + 10
            while not fake.state.cancelled:
                assert time.monotonic() < deadline, "the upstream stream was never closed"
                time.sleep(0.02)
            assert front.engine.replicas[0].num_in_flight == 0
    finally:
        fake.stop()


def test_no_upstream_left_is_a_503_with_a_body(tmp_path, fake_vllm):
    with front_over(tmp_path, ("vllm", fake_vllm)) as front:
        fake_vllm.stop()
        for _ in range(2):  # the first finds it gone, the second finds it marked down
            answer = httpx.post(
                front.base_url + "/chat/completions", json={"model": MODEL_ID, "messages": HI}
            )
            assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
            assert "Retry later" in answer.json()["error"]["message"]
        assert not front.engine.replicas[0].is_up
        health = httpx.get(front.url + "/health")  # for a load balancer in front of several fronts
        assert health.status_code == 503 and health.json()["status"] == "unavailable"


@pytest.mark.parametrize("incremental", [False, True], ids=["cumulative", "incremental"])
def test_sglang_generate_both_stream_kinds(tmp_path, incremental):
    fake = start_fake(sglang_app, FakeState(incremental=incremental, chunk_tokens=3))
    try:
        with front_over(tmp_path, ("sglang", fake)) as front:
            reply = client(front).chat.completions.create(
                model=MODEL_ID, messages=HI, logprobs=True, top_logprobs=2
            )
            assert reply.choices[0].message.content == ANSWER
            assert all(
                t.logprob == -0.5 and len(t.top_logprobs) == 2 for t in reply.choices[0].logprobs.content
            )
            assert reply.usage.prompt_tokens_details.cached_tokens == 16
            body = streams(fake)[-1]
            prompt = rendered_prompt(front, messages=HI)
            assert body["input_ids"] == prompt and body["rid"]
            sampling = body["sampling_params"]
            assert sampling["max_new_tokens"] == 16384 - len(prompt)
            assert set(sampling["stop_token_ids"]) >= HARMONY_STOPS and sampling["ignore_eos"] is False
            assert sampling["skip_special_tokens"] is False
            assert (body["return_logprob"], body["top_logprobs_num"], body["logprob_start_len"]) == (
                True,
                2,
                -1,
            )
            streamed = client(front).chat.completions.create(model=MODEL_ID, messages=HI, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == ANSWER
    finally:
        fake.stop()


@pytest.mark.parametrize("deterministic", [False, True])
def test_sglang_seed_needs_its_deterministic_mode(tmp_path, deterministic):
    fake = start_fake(sglang_app, FakeState(deterministic=deterministic))
    try:
        with front_over(tmp_path, ("sglang", fake)) as front:
            ask = {"model": MODEL_ID, "messages": HI, "seed": 3, "temperature": 0.7}
            if not deterministic:
                answer = httpx.post(front.base_url + "/chat/completions", json=ask)
                assert answer.status_code == 400
                error = answer.json()["error"]
                assert error["param"] == "seed" and "--enable-deterministic-inference" in error["message"]
                assert not streams(fake)  # refused before anything was sent
                ollama = httpx.post(
                    front.url + "/api/chat", json={**ask, "options": {"seed": 3}, "stream": False}
                )
                assert ollama.status_code == 400 and "seed" in json.dumps(ollama.json())
            else:
                assert client(front).chat.completions.create(**ask).choices[0].message.content == ANSWER
                assert streams(fake)[-1]["sampling_params"]["sampling_seed"] == 3
    finally:
        fake.stop()


def test_what_each_adapter_refuses_before_sending():
    from dataclasses import dataclass
    from typing import Any

    from gossamer.engine.protocol import SamplingParams
    from gossamer.upstream.gossamer import GossamerAdapter
    from gossamer.upstream.sglang import SGLangAdapter
    from gossamer.upstream.vllm import VLLMAdapter

    @dataclass(frozen=True)
    class Asked(SamplingParams):  # the structured-output fields, whether or not this build has them yet
        structured_outputs: Any = None
        thinking_token_budget: int | None = None

    plain = Asked(seed=1, top_k=5, min_p=0.1, logit_bias={7: 1.0}, logprobs=3)
    for adapter in (
        VLLMAdapter(MODEL_ID),
        GossamerAdapter(MODEL_ID),
        SGLangAdapter(MODEL_ID, supports_seed=True),
    ):
        assert adapter.refusal(plain) is None
        for field, value in (("structured_outputs", {"json": {}}), ("thinking_token_budget", 64)):
            refusal = adapter.refusal(Asked(**{field: value}))
            assert refusal is not None and refusal.field == field and "not enforced" in refusal.message
    refusal = SGLangAdapter(MODEL_ID, supports_seed=False).refusal(plain)
    assert refusal is not None and refusal.field == "seed"
