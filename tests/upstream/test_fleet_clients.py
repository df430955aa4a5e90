"""The front over three Gossamer replicas is, to every client, the server it stands for.

The openai SDK (Chat, streamed and not; Responses chained by previous_response_id), the Agents SDK's
tool loop and the ollama client run against the front and against one replica directly; at greedy
sampling the answers are the same, token for token.
"""

from __future__ import annotations

import json

import ollama
import openai
import pytest
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

from tests.upstream.fleet import Fleet

set_tracing_disabled(True)
pytestmark = pytest.mark.slow

MODEL = "gossamer-tiny"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
RESULT = json.dumps({"city": "Paris", "temperature": 18, "unit": "celsius", "condition": "sunny"})


def clients(fleet: Fleet) -> tuple[openai.AsyncOpenAI, openai.AsyncOpenAI]:
    front = openai.AsyncOpenAI(base_url=fleet.front.base_url, api_key="unused", max_retries=0)
    direct = openai.AsyncOpenAI(base_url=fleet.replicas[0].url + "/v1", api_key="unused", max_retries=0)
    return front, direct


def message_view(message) -> dict:
    """A chat message without what differs by design between servers (random call ids)."""
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
    return {"content": message.content, "reasoning": message.reasoning_content, "calls": calls}


async def test_chat_answers_through_the_front_are_the_direct_answers(upstream_fleet):
    front, direct = clients(upstream_fleet)
    asked = {"model": MODEL, "temperature": 0, "tools": [WEATHER_TOOL]}
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    via_front = await front.chat.completions.create(messages=messages, **asked)
    alone = await direct.chat.completions.create(messages=messages, **asked)
    call = via_front.choices[0].message
    assert message_view(call) == message_view(alone.choices[0].message)
    assert call.tool_calls and call.tool_calls[0].function.name == "get_weather"
    assert via_front.usage.completion_tokens == alone.usage.completion_tokens
    assert via_front.usage.prompt_tokens == alone.usage.prompt_tokens

    # The tool result goes back with the chain of thought; the final answers match too.
    follow = [
        *messages,
        {
            "role": "assistant",
            "tool_calls": [call.tool_calls[0].model_dump()],
            "reasoning_content": call.reasoning_content,
        },
        {"role": "tool", "tool_call_id": call.tool_calls[0].id, "content": RESULT},
    ]
    final = await front.chat.completions.create(messages=follow, **asked)
    final_alone = await direct.chat.completions.create(messages=follow, **asked)
    assert message_view(final.choices[0].message) == message_view(final_alone.choices[0].message)
    assert "18" in final.choices[0].message.content

    # Streamed through the front: the same answer, chunk by chunk.
    stream = await front.chat.completions.create(
        messages=follow, stream=True, stream_options={"include_usage": True}, **asked
    )
    content, reasoning, usage = "", "", None
    async for chunk in stream:
        usage = chunk.usage or usage
        if chunk.choices:
            delta = chunk.choices[0].delta
            content += delta.content or ""
            reasoning += getattr(delta, "reasoning_content", None) or ""
    assert content == final.choices[0].message.content
    assert reasoning == final.choices[0].message.reasoning_content
    assert usage is not None and usage.completion_tokens == final.usage.completion_tokens


async def test_responses_chained_by_previous_response_id(upstream_fleet):
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    answers = []
    for client in clients(upstream_fleet):
        first = await client.responses.create(
            model=MODEL, input="What's the weather in Paris?", tools=tools, temperature=0
        )
        call = first.output[-1]
        assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}
        second = await client.responses.create(
            model=MODEL,
            previous_response_id=first.id,
            tools=tools,
            temperature=0,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": RESULT}],
        )
        assert second.status == "completed" and second.previous_response_id == first.id
        stored = await client.responses.retrieve(second.id)
        assert stored.output_text == second.output_text
        answers.append((second.output_text, second.usage.input_tokens, second.usage.output_tokens))
    via_front, alone = answers
    assert via_front == alone
    assert "18" in via_front[0]


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return json.dumps({"city": city, "temperature": 18, "unit": "celsius", "condition": "sunny"})


@function_tool
def get_time(city: str) -> str:
    """Get the current local time in a city."""
    return json.dumps({"city": city, "time": "14:05"})


async def test_agents_sdk_tool_loop_through_the_front(upstream_fleet):
    """The SDK's tool loop, streamed through the front and run directly on a replica: the same answer."""
    finals = []
    for client, streamed in zip(clients(upstream_fleet), (True, False), strict=True):
        agent = Agent(
            name="assistant",
            instructions="You are a helpful assistant. Use the tools when they help.",
            tools=[get_weather, get_time],
            model=OpenAIResponsesModel(MODEL, client),
            model_settings=ModelSettings(temperature=0.0),
        )
        question = "What's the weather in Paris? And what time is it in Paris?"
        if streamed:
            result = Runner.run_streamed(agent, question, max_turns=6)
            async for _ in result.stream_events():
                pass
        else:
            result = await Runner.run(agent, question, max_turns=6)
        names = sorted(item.raw_item.name for item in result.new_items if item.type == "tool_call_item")
        assert names == ["get_time", "get_weather"]
        finals.append(str(result.final_output))
    assert finals[0] == finals[1]
    assert "18" in finals[0] and "14:05" in finals[0]


def test_ollama_client_through_the_front(upstream_fleet):
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    options = {"temperature": 0}
    front = ollama.Client(host=upstream_fleet.front.url)
    direct = ollama.Client(host=upstream_fleet.replicas[0].url)
    via_front = front.chat(model=MODEL, messages=messages, tools=[WEATHER_TOOL], options=options)
    alone = direct.chat(model=MODEL, messages=messages, tools=[WEATHER_TOOL], options=options)
    assert via_front.message.tool_calls and via_front.message.tool_calls[0].function.name == "get_weather"
    assert via_front.message.model_dump() == alone.message.model_dump()
    assert via_front.eval_count == alone.eval_count

    streamed = list(
        front.chat(model=MODEL, messages=[{"role": "user", "content": "Hi"}], options=options, stream=True)
    )
    said = "".join(part.message.content or "" for part in streamed)
    thought = "".join(part.message.thinking or "" for part in streamed)
    whole = direct.chat(model=MODEL, messages=[{"role": "user", "content": "Hi"}], options=options)
    assert streamed[-1].done
    assert (said, thought) == (whole.message.content, whole.message.thinking)
