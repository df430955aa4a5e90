"""Chat Completions over real HTTP with the official openai SDK (typed models), on a scripted gpt-oss."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from gossamer.harmony.tokenizer import decode_text
from tests.server.conftest import GREETING, MODEL_NAME, REASONING, LiveApp
from tests.spec_validation import validate

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def client(scripted_app: LiveApp) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=scripted_app.base_url, api_key="unused", max_retries=0) as client:
        yield client


def sse_payloads(text: str) -> list[dict]:
    frames = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    return [json.loads(f) for f in frames[:-1]]


def test_answer_carries_reasoning_both_ways_and_usage(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL_NAME, messages=HI)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    choice = completion.choices[0]
    assert choice.message.content == GREETING
    assert choice.finish_reason == "stop"
    extra = choice.message.model_extra or {}
    assert extra["reasoning"] == REASONING
    assert extra["reasoning_content"] == REASONING
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details.reasoning_tokens > 0
    assert usage.prompt_tokens_details.cached_tokens is not None
    assert completion.model == MODEL_NAME


@pytest.mark.parametrize("name", ["gpt-oss-20b", "openai/gpt-oss-20b", "gpt-oss:20b", "GPT-OSS-20B"])
def test_model_aliases(client: openai.OpenAI, name: str) -> None:
    assert client.chat.completions.create(model=name, messages=HI).model == MODEL_NAME


def test_raw_answer_and_chunks_match_openapi(scripted_app: LiveApp) -> None:
    body = {"model": MODEL_NAME, "messages": HI, "logprobs": True, "top_logprobs": 2}
    answer = httpx.post(scripted_app.base_url + "/chat/completions", json=body, timeout=30).json()
    validate(answer, "CreateChatCompletionResponse")
    entries = answer["choices"][0]["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == GREETING  # logprobs cover the answer text only
    assert all(len(e["top_logprobs"]) == 2 for e in entries)
    stream = {**body, "stream": True, "stream_options": {"include_usage": True}}
    text = httpx.post(scripted_app.base_url + "/chat/completions", json=stream, timeout=30).text
    chunks = sse_payloads(text)
    for chunk in chunks:
        validate(chunk, "CreateChatCompletionStreamResponse")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_matches_whole_answer(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL_NAME, messages=HI, temperature=0)
    content, reasoning, finish = "", "", None
    stream = client.chat.completions.create(
        model=MODEL_NAME, messages=HI, temperature=0, stream=True, stream_options={"include_usage": True}
    )
    usage = None
    for chunk in stream:
        assert isinstance(chunk, openai.types.chat.ChatCompletionChunk)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            content += choice.delta.content or ""
            extra = choice.delta.model_extra or {}
            assert extra.get("reasoning") == extra.get("reasoning_content")
            reasoning += extra.get("reasoning") or ""
            finish = choice.finish_reason or finish
    assert content == whole.choices[0].message.content
    assert reasoning == (whole.choices[0].message.model_extra or {})["reasoning"]
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens


def test_tool_call_whole_and_streamed(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    whole = client.chat.completions.create(model=MODEL_NAME, messages=messages, tools=[WEATHER_TOOL])
    choice = whole.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    calls: dict[int, dict] = {}
    num_argument_deltas = 0
    finish = None
    stream = client.chat.completions.create(
        model=MODEL_NAME, messages=messages, tools=[WEATHER_TOOL], stream=True
    )
    for chunk in stream:
        for c in chunk.choices:
            finish = c.finish_reason or finish
            for tc in c.delta.tool_calls or []:
                entry = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                if tc.id:
                    entry["id"], entry["name"] = tc.id, tc.function.name
                entry["arguments"] += tc.function.arguments or ""
                num_argument_deltas += bool(tc.function.arguments)
    assert finish == "tool_calls"
    assert num_argument_deltas > 1  # arguments stream as they are sampled, not as one finished item
    assert calls[0]["id"].startswith("call_") and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}


def test_tool_result_turn_carries_reasoning_back(scripted_app: LiveApp, client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "I must look it up.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'},
    ]
    answer = client.chat.completions.create(model=MODEL_NAME, messages=messages, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "It is sunny in Paris."
    prompt = decode_text(scripted_app.engine.requests[-1].prompt_ids)
    # The chain of thought of a tool chain still in progress is kept; the result is shown to the model.
    assert "I must look it up." in prompt
    assert '{"sky": "sunny"}' in prompt and "functions.get_weather to=assistant" in prompt
    assert "Be brief." in prompt


@pytest.mark.parametrize(
    "tool_choice", ["none", "auto", "required", {"type": "function", "function": {"name": "get_weather"}}]
)
def test_tool_choice_modes(scripted_app: LiveApp, client: openai.OpenAI, tool_choice) -> None:
    answer = client.chat.completions.create(
        model=MODEL_NAME,
        messages=HI,
        tools=[WEATHER_TOOL],
        tool_choice=tool_choice,
        parallel_tool_calls=False,
    )
    choice = answer.choices[0]
    prompt = decode_text(scripted_app.engine.requests[-1].prompt_ids)
    reply_prefill = prompt[prompt.rfind("<|start|>assistant") :]
    if tool_choice == "none":
        assert "get_weather" not in prompt
        assert choice.finish_reason == "stop" and choice.message.content == GREETING
    elif tool_choice != "auto":
        # Required/named choices prefill the call header so the model can only call a function.
        assert "to=functions.get_weather" in reply_prefill
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls[0].function.name == "get_weather"
        assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris"}


def test_reasoning_effort_both_spellings(scripted_app: LiveApp, client: openai.OpenAI) -> None:
    client.chat.completions.create(model=MODEL_NAME, messages=HI, reasoning_effort="high")
    assert "Reasoning: high" in decode_text(scripted_app.engine.requests[-1].prompt_ids)
    client.chat.completions.create(model=MODEL_NAME, messages=HI, extra_body={"reasoning": {"effort": "low"}})
    assert "Reasoning: low" in decode_text(scripted_app.engine.requests[-1].prompt_ids)


def test_response_format_json_schema_reaches_the_prompt(scripted_app: LiveApp, client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    client.chat.completions.create(
        model=MODEL_NAME,
        messages=HI,
        response_format={"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}},
    )
    prompt = decode_text(scripted_app.engine.requests[-1].prompt_ids)
    assert "reply" in prompt and '"answer"' in prompt
    client.chat.completions.create(model=MODEL_NAME, messages=HI, response_format={"type": "json_object"})


def test_sampling_parameters_reach_the_engine(scripted_app: LiveApp, client: openai.OpenAI) -> None:
    client.chat.completions.create(
        model=MODEL_NAME,
        messages=HI,
        temperature=0.3,
        top_p=0.9,
        seed=7,
        max_completion_tokens=100,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias={"200": 5},
        user="tester",
    )
    params = scripted_app.engine.requests[-1].params
    assert (params.temperature, params.top_p, params.seed, params.max_tokens) == (0.3, 0.9, 7, 100)
    assert (params.presence_penalty, params.frequency_penalty) == (0.5, -0.5)
    assert params.logit_bias == {200: 5.0}
    assert set(params.stop_token_ids) >= {200002, 200012}  # <|return|>, <|call|>


def test_stop_string_cuts_the_answer(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model=MODEL_NAME, messages=HI, stop=["How can"])
    assert answer.choices[0].message.content == "Hello there! "
    assert answer.choices[0].finish_reason == "stop"
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model=MODEL_NAME, messages=HI, stop="there", stream=True)
        if c.choices
    )
    assert streamed == "Hello "


def test_max_tokens_ends_with_length(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model=MODEL_NAME, messages=HI, max_tokens=5)
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 5


def test_n_choices(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model=MODEL_NAME, messages=HI, n=3)
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert all(c.message.content == GREETING for c in answer.choices)
    seen: set[int] = set()
    for chunk in client.chat.completions.create(model=MODEL_NAME, messages=HI, n=2, stream=True):
        seen.update(c.index for c in chunk.choices)
    assert seen == {0, 1}


async def test_async_client_streams(scripted_app: LiveApp) -> None:
    client = openai.AsyncOpenAI(base_url=scripted_app.base_url, api_key="unused", max_retries=0)

    async def one() -> str:
        stream = await client.chat.completions.create(model=MODEL_NAME, messages=HI, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    texts = await asyncio.gather(*(one() for _ in range(4)))
    assert texts == [GREETING] * 4
    whole = await client.chat.completions.create(model=MODEL_NAME, messages=HI)
    assert whole.choices[0].message.content == GREETING
    await client.close()


async def test_concurrent_streams_match_whole_answers(scripted_app: LiveApp) -> None:
    client = openai.AsyncOpenAI(base_url=scripted_app.base_url, api_key="unused", max_retries=0)

    async def pair(i: int) -> tuple[str, str]:
        messages = [{"role": "user", "content": f"hi number {i}"}]
        whole = await client.chat.completions.create(model=MODEL_NAME, messages=messages, temperature=0)
        stream = await client.chat.completions.create(
            model=MODEL_NAME, messages=messages, temperature=0, stream=True
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return whole.choices[0].message.content, streamed

    pairs = await asyncio.gather(*(pair(i) for i in range(32)))
    assert all(whole == streamed == GREETING for whole, streamed in pairs)
    await client.close()


def test_stop_token_reported_apart_is_understood() -> None:
    """The protocol lets an engine name the stop token without listing it in token_ids."""
    from gossamer.testing.scripted_engine import ScriptedEngine
    from tests.server.conftest import gpt_oss_script, start_app

    app = start_app(ScriptedEngine(gpt_oss_script, stop_token_in_output=False))
    try:
        client = openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0)
        answer = client.chat.completions.create(model=MODEL_NAME, messages=HI)
        assert answer.choices[0].message.content == GREETING
        assert answer.choices[0].finish_reason == "stop"
        call = client.chat.completions.create(
            model=MODEL_NAME, messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER_TOOL]
        )
        assert call.choices[0].finish_reason == "tool_calls"
        text = client.completions.create(model=MODEL_NAME, prompt="Hi", max_tokens=100).choices[0].text
        assert text == "<|channel|>analysis<|message|>" + REASONING
    finally:
        client.close()
        app.stop()


def test_tool_call_answer_and_chunks_match_openapi(scripted_app: LiveApp) -> None:
    body = {
        "model": MODEL_NAME,
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [WEATHER_TOOL],
    }
    answer = httpx.post(scripted_app.base_url + "/chat/completions", json=body, timeout=30).json()
    validate(answer, "CreateChatCompletionResponse")
    assert answer["choices"][0]["message"]["content"] is None
    text = httpx.post(scripted_app.base_url + "/chat/completions", json={**body, "stream": True, "n": 2}).text
    chunks = sse_payloads(text)
    for chunk in chunks:
        validate(chunk, "CreateChatCompletionStreamResponse")
    finishes = [c["finish_reason"] for chunk in chunks for c in chunk["choices"] if c["finish_reason"]]
    assert finishes == ["tool_calls", "tool_calls"]
