"""The OpenAI Agents SDK, unchanged, runs a two-tool loop against a real server process.

Both of the SDK's model classes are driven: OpenAIResponsesModel (/v1/responses) and
OpenAIChatCompletionsModel (/v1/chat/completions), each streamed and not. The server plays
gpt-oss through the scripted engine (responses_harness.py): it calls each offered tool once,
then answers with what the tools returned and what every user said, so the final output shows
exactly what reached the model.
"""

from __future__ import annotations

import openai
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)

from tests.server.responses_harness import serve

set_tracing_disabled(True)
MODEL = "openai/gpt-oss-20b"

calls: list[tuple[str, str]] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city right now."""
    calls.append(("get_weather", city))
    return f"sunny in {city}"


@function_tool
def get_time(city: str) -> str:
    """The local time in a city."""
    calls.append(("get_time", city))
    return f"noon in {city}"


EXPECTED_RESULTS = "Results: get_weather=sunny in Paris; get_time=noon in Paris."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("store") / "responses.sqlite3") as running:
        yield running


@pytest.fixture
def client(server):
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def _agent(model) -> Agent:
    return Agent(
        name="assistant",
        instructions="Use the tools, then answer.",
        tools=[get_weather, get_time],
        model=model,
        model_settings=ModelSettings(temperature=1.0),
    )


async def _run(agent: Agent, text: str, *, streamed: bool, previous_response_id: str | None = None):
    if not streamed:
        return await Runner.run(agent, text, previous_response_id=previous_response_id)
    result = Runner.run_streamed(agent, text, previous_response_id=previous_response_id)
    kinds = set()
    async for event in result.stream_events():
        kinds.add(event.type)
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    return result


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "streamed"])
async def test_responses_model_tool_loop_and_chained_run(client, streamed):
    calls.clear()
    agent = _agent(OpenAIResponsesModel(MODEL, client))
    first = await _run(agent, "Weather and time in Paris?", streamed=streamed)
    assert calls == [("get_weather", "Paris"), ("get_time", "Paris")]
    assert first.final_output == f"{EXPECTED_RESULTS} Users said: Weather and time in Paris?"
    item_types = [item.type for item in first.new_items]
    assert item_types.count("tool_call_item") == 2 and item_types.count("tool_call_output_item") == 2
    assert "reasoning_item" in item_types and item_types[-1] == "message_output_item"

    # The stored chain carries the first run into the second: the model sees the first question.
    calls.clear()
    second = await _run(
        agent, "And tomorrow?", streamed=streamed, previous_response_id=first.last_response_id
    )
    assert second.final_output == f"{EXPECTED_RESULTS} Users said: Weather and time in Paris? | And tomorrow?"
    assert len(calls) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "streamed"])
async def test_chat_completions_model_tool_loop(client, streamed):
    calls.clear()
    agent = _agent(OpenAIChatCompletionsModel(MODEL, client))
    first = await _run(agent, "Weather and time in Paris?", streamed=streamed)
    assert calls == [("get_weather", "Paris"), ("get_time", "Paris")]
    assert first.final_output == f"{EXPECTED_RESULTS} Users said: Weather and time in Paris?"

    # Chat Completions is stateless: the SDK replays the whole history itself.
    calls.clear()
    follow_up = [*first.to_input_list(), {"role": "user", "content": "And tomorrow?"}]
    second = await Runner.run(agent, follow_up)
    assert second.final_output == f"{EXPECTED_RESULTS} Users said: Weather and time in Paris? | And tomorrow?"
