"""The official clients' structured-output helpers, unchanged, against the real server on the
embedded model: `chat.completions.parse` fills `message.parsed`, `responses.parse` fills
`output_parsed`, the ollama client's `format=Model.model_json_schema()` answers a valid model,
and an Agents SDK agent with a pydantic `output_type` ends with an instance of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import ollama
import openai
import pytest
from pydantic import BaseModel, Field

from gossamer.engine import EngineConfig, build_engine
from gossamer.errors import CheckpointError
from tests.server.conftest import MODEL_NAME, LiveApp, start_app

try:
    from gossamer.tiny import model_path

    TINY_PATH = model_path()
except (ImportError, CheckpointError) as exc:  # no embedded model in this build
    pytest.skip(f"gossamer-tiny is not available: {exc}", allow_module_level=True)

QUESTION = "What's the weather in Paris?"


class Weather(BaseModel):
    city: str = Field(max_length=24)
    temperature: int = Field(ge=-60, le=60)
    condition: Literal["sunny", "cloudy", "rain", "snow"]


@pytest.fixture(scope="module")
def app() -> Iterator[LiveApp]:
    live = start_app(build_engine(TINY_PATH, EngineConfig(kv_cache_memory_bytes="64MiB")))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(app: LiveApp) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0) as client:
        yield client


def test_chat_completions_parse_fills_message_parsed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": QUESTION}],
        response_format=Weather,
        temperature=0.0,
        max_tokens=300,
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(message.parsed, Weather)
    assert message.parsed == Weather.model_validate_json(message.content or "")


def test_responses_parse_fills_output_parsed(client: openai.OpenAI) -> None:
    response = client.responses.parse(
        model=MODEL_NAME, input=QUESTION, text_format=Weather, temperature=0.0, max_output_tokens=300
    )
    assert response.status == "completed"
    assert isinstance(response.output_parsed, Weather)


def test_ollama_format_from_a_pydantic_schema(app: LiveApp) -> None:
    reply = ollama.Client(host=app.url).chat(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": QUESTION}],
        format=Weather.model_json_schema(),
        options={"temperature": 0.0, "num_predict": 300},
    )
    assert reply.done_reason == "stop"
    Weather.model_validate_json(reply.message.content or "")


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_agents_sdk_output_type(app: LiveApp, api: str) -> None:
    from agents import (
        Agent,
        ModelSettings,
        OpenAIChatCompletionsModel,
        OpenAIResponsesModel,
        Runner,
        set_tracing_disabled,
    )

    set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=app.base_url, api_key="unused", max_retries=0)
    model_class = OpenAIResponsesModel if api == "responses" else OpenAIChatCompletionsModel
    agent = Agent(
        name="assistant",
        instructions="Answer with the weather.",
        model=model_class(model=MODEL_NAME, openai_client=client),
        model_settings=ModelSettings(temperature=0.0, max_tokens=300),
        output_type=Weather,
    )
    result = await Runner.run(agent, QUESTION, max_turns=2)
    assert isinstance(result.final_output, Weather)


def test_streamed_answer_is_the_same_valid_json(client: openai.OpenAI) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": Weather.model_json_schema()}}
    stream = client.chat.completions.create(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": QUESTION}],
        response_format=fmt,  # type: ignore[arg-type]
        temperature=0.0,
        max_tokens=300,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert reasons == ["stop"]
    Weather.model_validate_json(text)


def test_an_answer_cut_by_max_tokens_says_length_and_parse_refuses_it(client: openai.OpenAI) -> None:
    """A cut answer never claims to be valid: finish_reason length, and the SDK's parse() raises."""
    request = {
        "model": MODEL_NAME,
        "messages": [{"role": "user", "content": QUESTION}],
        "temperature": 0.0,
        "max_tokens": 12,  # half of it for thought, then the JSON is cut
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": Weather.model_json_schema()}}
    reply = client.chat.completions.create(**request, response_format=fmt)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "length"
    with pytest.raises(openai.LengthFinishReasonError):
        client.chat.completions.parse(**request, response_format=Weather)
