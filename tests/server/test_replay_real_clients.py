"""Clients that drop the chain of thought, on the embedded model: LangChain's ChatOpenAI and the
Agents SDK's Chat Completions model send the tool-call turn back without its reasoning. With
reasoning replay the answer states the tool's result; with replay off the prompt has no reasoning
before the call, and the embedded model, trained on such turns since issue 24, states it anyway
(the model shipped before that lost it: 0 to 2 of these 10 runs stated it).

Seeded sampling at the model card's temperature 1.0, ten seeds per client; the real engine.
"""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from gossamer.engine import EngineConfig, build_engine
from gossamer.server.settings import ServerSettings
from gossamer.tiny import model_path
from tests.server.conftest import MODEL_NAME, LiveApp, start_app

pytestmark = pytest.mark.slow
set_tracing_disabled(True)

SEEDS = range(10)
QUESTION = "What's the weather in Paris?"
RESULT = {"temperature": 18, "condition": "sunny"}


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return json.dumps(RESULT)


@function_tool(name_override="get_weather")
def agents_get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return json.dumps(RESULT)


def _app(tmp_path_factory, replay: bool) -> LiveApp:
    store = tmp_path_factory.mktemp("store") / "responses.sqlite3"
    engine = build_engine(model_path(), EngineConfig(kv_cache_memory_bytes="64MiB"))
    return start_app(engine, ServerSettings(responses_store=str(store), reasoning_replay=replay))


@pytest.fixture(scope="module")
def replaying(tmp_path_factory):
    live = _app(tmp_path_factory, replay=True)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def forgetting(tmp_path_factory):
    live = _app(tmp_path_factory, replay=False)
    yield live
    live.stop()


def chat_model(live: LiveApp, seed: int):
    llm = ChatOpenAI(base_url=live.base_url, api_key="unused", model=MODEL_NAME, seed=seed, max_retries=0)
    return llm.bind_tools([get_weather])


def with_results(messages: list[BaseMessage], ai: BaseMessage) -> list[BaseMessage]:
    assert ai.tool_calls, f"the model called no tool: {ai.content!r}"
    results = [ToolMessage(get_weather.invoke(c["args"]), tool_call_id=c["id"]) for c in ai.tool_calls]
    return [*messages, ai, *results]


def langchain_answer(live: LiveApp, seed: int, stream: bool) -> str:
    model = chat_model(live, seed)
    messages: list[BaseMessage] = [HumanMessage(QUESTION)]
    if not stream:
        messages = with_results(messages, model.invoke(messages))
        return str(model.invoke(messages).content)
    first: AIMessageChunk | None = None
    for chunk in model.stream(messages):
        first = chunk if first is None else first + chunk
    assert first is not None
    messages = with_results(messages, first)
    return "".join(str(chunk.content) for chunk in model.stream(messages))


def agents_answer(live: LiveApp, seed: int) -> str:
    client = openai.AsyncOpenAI(base_url=live.base_url, api_key="unused", max_retries=0)
    agent = Agent(
        name="weather",
        instructions="You are a helpful assistant.",
        model=OpenAIChatCompletionsModel(model=MODEL_NAME, openai_client=client),
        tools=[agents_get_weather],
        model_settings=ModelSettings(extra_args={"seed": seed}),
    )
    result = asyncio.run(Runner.run(agent, QUESTION, max_turns=4))
    return str(result.final_output)


def num_stating_the_result(answers: list[str]) -> int:
    return sum("18" in answer for answer in answers)


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_langchain_chatopenai_states_the_tool_result(replaying, stream):
    answers = [langchain_answer(replaying, seed, stream) for seed in SEEDS]
    assert num_stating_the_result(answers) >= 9, answers


def test_agents_sdk_chat_completions_states_the_tool_result(replaying):
    answers = [agents_answer(replaying, seed) for seed in SEEDS]
    assert num_stating_the_result(answers) >= 9, answers


def test_without_replay_the_model_still_states_the_result(forgetting):
    """The same conversations with replay off, as a server without replay gives them to these
    clients: the answer follows a call whose reasoning is gone (issue 24's dropped-reasoning turns)."""
    answers = [langchain_answer(forgetting, seed, stream=False) for seed in SEEDS[:5]]
    answers += [agents_answer(forgetting, seed) for seed in SEEDS[:5]]
    assert num_stating_the_result(answers) >= 9, answers
