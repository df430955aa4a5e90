"""The OpenAI Agents SDK over Chat Completions: a tool loop against the server, streamed and not."""

from __future__ import annotations

import openai
import pytest

from tests.server.conftest import MODEL_NAME, LiveApp

agents = pytest.importorskip("agents")


@pytest.fixture
def weather_agent(scripted_app: LiveApp):
    agents.set_tracing_disabled(True)
    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    client = openai.AsyncOpenAI(base_url=scripted_app.base_url, api_key="unused", max_retries=0)
    model = agents.OpenAIChatCompletionsModel(model=f"openai/{MODEL_NAME}", openai_client=client)
    agent = agents.Agent(name="weather", instructions="Answer briefly.", model=model, tools=[get_weather])
    return agent, calls


async def test_tool_loop(weather_agent) -> None:
    agent, calls = weather_agent
    result = await agents.Runner.run(agent, "What's the weather in Paris?")
    assert calls == ["Paris"]
    assert result.final_output == "It is sunny in Paris."


async def test_tool_loop_streamed(weather_agent) -> None:
    agent, calls = weather_agent
    result = agents.Runner.run_streamed(agent, "What's the weather in Paris?")
    async for _ in result.stream_events():
        pass
    assert calls == ["Paris"]
    assert result.final_output == "It is sunny in Paris."
