"""Greedy decoding of gossamer-tiny behaves: it calls a fitting tool with valid JSON, reads the
result, and answers on final without tools."""

from __future__ import annotations

import json

import jsonschema
import torch
from openai_harmony import (
    Conversation,
    DeveloperContent,
    Message,
    ReasoningEffort,
    Role,
    SystemContent,
    ToolDescription,
)

from gossamer.tiny.data import tool_call_message, tool_result_message
from gossamer.tiny.evaluate import CALL, RETURN, Sampler

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def _prompt(user: str, tools: list[ToolDescription]) -> list[Message]:
    system = (
        SystemContent.new()
        .with_reasoning_effort(ReasoningEffort.LOW)
        .with_conversation_start_date("2026-11-24")
    )
    messages = [Message.from_role_and_content(Role.SYSTEM, system)]
    if tools:
        developer = DeveloperContent.new().with_function_tools(tools)
        messages.append(Message.from_role_and_content(Role.DEVELOPER, developer))
    return [*messages, Message.from_role_and_content(Role.USER, user)]


def _greedy(hf_model, encoding, messages: list[Message]) -> list[Message]:
    prompt = encoding.render_conversation_for_completion(Conversation.from_messages(messages), Role.ASSISTANT)
    tokens = Sampler(hf_model).sample(prompt, temperature=0.0, gen=torch.Generator())
    assert tokens[-1] in (CALL, RETURN), encoding.decode_utf8(tokens)
    return encoding.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT, strict=True)


def test_calls_the_weather_tool_then_answers(hf_model, encoding) -> None:
    tool = ToolDescription.new("get_weather", "Get the current weather for a city.", parameters=WEATHER)
    history = _prompt("What's the weather in Paris?", [tool])
    out = _greedy(hf_model, encoding, history)
    call = out[-1]
    assert call.channel == "commentary" and call.recipient == "functions.get_weather"
    args = json.loads(call.content[0].text)
    jsonschema.validate(args, WEATHER)
    assert args == {"city": "Paris"}

    result = {"city": "Paris", "temperature": 17, "unit": "celsius", "condition": "cloudy"}
    history += [*out[:-1], tool_call_message("get_weather", args), tool_result_message("get_weather", result)]
    answer = _greedy(hf_model, encoding, history)[-1]
    assert answer.channel == "final"
    assert "17" in answer.content[0].text and "cloudy" in answer.content[0].text


def test_answers_on_final_without_tools(hf_model, encoding) -> None:
    out = _greedy(hf_model, encoding, _prompt("What is the capital of France?", []))
    assert out[0].channel == "analysis"
    assert out[-1].channel == "final" and "Paris" in out[-1].content[0].text


def test_no_call_when_no_tool_fits(hf_model, encoding) -> None:
    tool = ToolDescription.new(
        "get_stock_price",
        "Get the latest stock price for a ticker symbol.",
        parameters={"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]},
    )
    out = _greedy(hf_model, encoding, _prompt("Hello there!", [tool]))
    assert all(m.recipient is None for m in out)
    assert out[-1].channel == "final"
