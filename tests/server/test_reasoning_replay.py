"""Reasoning replay through the server: the chain of thought of a tool-call turn comes back to the
model when a client sends that turn without it (Chat Completions, Ollama, /tokenize), and not when
replay is off. The scripted engine records each prompt it was given, so the tests read exactly
what the model saw."""

from __future__ import annotations

import ollama
import openai
import pytest

from gossamer.harmony.tokenizer import decode_text
from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import MODEL_NAME, LiveApp, gpt_oss_script, start_app

REASONING = "I should call get_weather."  # what gpt_oss_script reasons before calling the tool
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
QUESTION = [{"role": "user", "content": "What's the weather in Paris?"}]


def app(tmp_path_factory, replay: bool) -> LiveApp:
    store = tmp_path_factory.mktemp("store") / "responses.sqlite3"
    settings = ServerSettings(responses_store=str(store), reasoning_replay=replay)
    return start_app(ScriptedEngine(gpt_oss_script, max_context_length=4096), settings)


@pytest.fixture(scope="module")
def replaying(tmp_path_factory):
    live = app(tmp_path_factory, replay=True)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def forgetting(tmp_path_factory):
    live = app(tmp_path_factory, replay=False)
    yield live
    live.stop()


def last_prompt(live: LiveApp) -> str:
    return decode_text(live.engine.requests[-1].prompt_ids)


def analysis_before_call(prompt: str) -> str | None:
    """The analysis message the prompt's last tool call follows, if it has one."""
    before_call = prompt[: prompt.rfind("to=functions.get_weather")]
    marker = "<|channel|>analysis<|message|>"
    if before_call.rfind(marker) < before_call.rfind("<|start|>user"):
        return None
    return before_call[before_call.rfind(marker) + len(marker) :].split("<|end|>")[0]


def tool_turn_without_reasoning(client: openai.OpenAI) -> list[dict]:
    first = client.chat.completions.create(model=MODEL_NAME, messages=QUESTION, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    assert message.tool_calls and (message.model_extra or {}).get("reasoning_content") == REASONING
    call = message.tool_calls[0]
    # LangChain's ChatOpenAI sends the turn back like this: content null, no reasoning.
    return [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 18}'},
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_chat_completions_restores_the_dropped_reasoning(replaying, stream):
    client = openai.OpenAI(base_url=replaying.base_url, api_key="unused", max_retries=0)
    messages = tool_turn_without_reasoning(client)
    if stream:
        for _ in client.chat.completions.create(model=MODEL_NAME, messages=messages, stream=True):
            pass
    else:
        answer = client.chat.completions.create(model=MODEL_NAME, messages=messages, tools=[WEATHER_TOOL])
        assert answer.choices[0].message.content == "It is sunny in Paris."
    assert analysis_before_call(last_prompt(replaying)) == REASONING


def test_tokenize_shows_the_replayed_prompt(replaying):
    client = openai.OpenAI(base_url=replaying.base_url, api_key="unused", max_retries=0)
    messages = tool_turn_without_reasoning(client)
    tokens = client.post("/../tokenize", body={"model": MODEL_NAME, "messages": messages}, cast_to=object)
    assert analysis_before_call(decode_text(tokens["tokens"])) == REASONING


def test_replay_off_renders_what_the_client_sent(forgetting):
    client = openai.OpenAI(base_url=forgetting.base_url, api_key="unused", max_retries=0)
    client.chat.completions.create(model=MODEL_NAME, messages=tool_turn_without_reasoning(client))
    assert analysis_before_call(last_prompt(forgetting)) is None


def test_ollama_chat_restores_it_although_the_client_keeps_no_call_ids(replaying):
    client = ollama.Client(host=replaying.url)
    tools = [WEATHER_TOOL]
    first = client.chat(model="gpt-oss:20b", messages=QUESTION, tools=tools)
    assert first.message.tool_calls and first.message.thinking == REASONING
    calls = [{"function": {"name": c.function.name, "arguments": c.function.arguments}}
             for c in first.message.tool_calls]  # no ids: Ollama's clients do not keep them
    assistant = {"role": "assistant", "content": "", "tool_calls": calls}
    result = {"role": "tool", "tool_name": "get_weather", "content": '{"temperature": 18}'}
    final = client.chat(model="gpt-oss:20b", messages=[*QUESTION, assistant, result], tools=tools)
    assert final.message.content == "It is sunny in Paris."
    assert analysis_before_call(last_prompt(replaying)) == REASONING
