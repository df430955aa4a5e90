"""The Agents SDK tool loop on the embedded gossamer-tiny model: the real engine, no script.

gossamer-tiny was trained to call weather and time tools in harmony (src/gossamer/tiny/tools.py), so
an agent offering both completes a real two-call loop through both of the SDK's model classes.
Greedy sampling keeps the run deterministic. Skipped where the build has no embedded model.
"""

from __future__ import annotations

import json

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

from gossamer.errors import CheckpointError
from tests.server.responses_harness import serve

set_tracing_disabled(True)

try:
    from gossamer.tiny import TINY_MODEL_NAME, model_path

    TINY_PATH = model_path()
except (ImportError, CheckpointError) as exc:  # no embedded model in this build
    pytest.skip(f"gossamer-tiny is not available: {exc}", allow_module_level=True)

pytestmark = pytest.mark.slow
QUESTION = "What's the weather in Paris? And what time is it in Paris?"
calls: list[tuple[str, str]] = []


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    calls.append(("get_weather", city))
    return json.dumps({"city": city, "temperature": 18, "unit": "celsius", "condition": "sunny"})


@function_tool
def get_time(city: str) -> str:
    """Get the current local time in a city."""
    calls.append(("get_time", city))
    return json.dumps({"city": city, "time": "14:05"})


TOOLS = [get_weather, get_time]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = tmp_path_factory.mktemp("store") / "responses.sqlite3"
    with serve(store, engine="model", model=str(TINY_PATH), timeout_s=300) as running:
        yield running


def _agent(model) -> Agent:
    return Agent(
        name="assistant",
        instructions="You are a helpful assistant. Use the tools when they help.",
        tools=TOOLS,
        model=model,
        model_settings=ModelSettings(temperature=0.0),
    )


async def _run(agent: Agent, text: str, streamed: bool, previous_response_id: str | None = None):
    if not streamed:
        return await Runner.run(agent, text, previous_response_id=previous_response_id, max_turns=6)
    result = Runner.run_streamed(agent, text, previous_response_id=previous_response_id, max_turns=6)
    async for _ in result.stream_events():
        pass
    return result


def _check_loop(result) -> None:
    names = sorted(name for name, _ in calls)
    assert names == ["get_time", "get_weather"], calls
    assert all(city == "Paris" for _, city in calls), calls
    answer = str(result.final_output)
    assert "18" in answer and "14:05" in answer, answer


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "streamed"])
@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_tiny_model_completes_the_tool_loop(server, api, streamed):
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    if api == "responses":
        model = OpenAIResponsesModel(TINY_MODEL_NAME, client)
    else:
        # Harmony wants the chain of thought back while a tool chain runs; over Chat Completions the
        # SDK sends it (as reasoning_content) only when asked to, with this documented hook.
        model = OpenAIChatCompletionsModel(
            TINY_MODEL_NAME, client, should_replay_reasoning_content=lambda _: True
        )
    agent = _agent(model)
    calls.clear()
    result = await _run(agent, QUESTION, streamed)
    _check_loop(result)
    if api == "responses":
        # The second run continues the stored conversation. gossamer-tiny was trained on single
        # turns, so what it answers is not the point; what it was shown is: the whole first run.
        calls.clear()
        second = await _run(agent, "What's the weather in Tokyo?", streamed, result.last_response_id)
        chained = await client.responses.retrieve(second.raw_responses[0].response_id)
        assert chained.previous_response_id == result.last_response_id
        alone = await client.responses.create(
            model=TINY_MODEL_NAME,
            instructions=agent.instructions,
            input="What's the weather in Tokyo?",
            tools=[{"type": "function", "name": t.name, "parameters": t.params_json_schema} for t in TOOLS],
            max_output_tokens=16,
            store=False,
        )
        # Its prompt held the whole first run (question, both calls and results, the answer): far
        # more than the same question alone ...
        assert chained.usage.input_tokens >= alone.usage.input_tokens + 60
        # ... and began with the very tokens the first run's prompts began with (prefix cache hit).
        assert chained.usage.input_tokens_details.cached_tokens > 0


async def test_tiny_model_over_the_raw_sdk_streamed_and_chained(server):
    """The SDK's own calls on the real model: a streamed call, its stored twin, the chained answer."""
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    tools = [{"type": "function", "name": t.name, "parameters": t.params_json_schema} for t in TOOLS]
    common = {"model": TINY_MODEL_NAME, "tools": tools, "temperature": 0.0}
    stream = await client.responses.create(input="What's the weather in Paris?", stream=True, **common)
    events = [event async for event in stream]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    first = events[-1].response
    assert (await client.responses.retrieve(first.id)).model_dump() == first.model_dump()
    call = first.output[-1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert first.usage.output_tokens_details.reasoning_tokens > 0

    result = json.dumps({"city": "Paris", "temperature": 18, "unit": "celsius", "condition": "sunny"})
    answer = await client.responses.create(
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": result}],
        **common,
    )
    assert answer.status == "completed"
    assert "18" in answer.output_text and "sunny" in answer.output_text, answer.output_text
