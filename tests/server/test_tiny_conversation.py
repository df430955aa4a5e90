"""gossamer-tiny holds a conversation through the real server (issue 24).

A three-turn conversation (a weather question, "And in Oslo?", thanks) as a Responses chain linked
by previous_response_id, and the same conversation over Chat Completions with the history sent
back each time: every turn must end on an assistant message, in 10 of 10 seeded runs at the model
card's temperature 1.0. Chat Completions takes a seed; Responses has none, so each Responses run
seeds Python's `random`, from which the engine draws an unseeded request's seed (the server runs
in this process and the requests of a run go one at a time).
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from gossamer.engine import EngineConfig, build_engine
from gossamer.server.settings import ServerSettings
from gossamer.tiny import model_path
from tests.server.conftest import MODEL_NAME, LiveApp, start_app

pytestmark = pytest.mark.slow

SEEDS = range(10)
TURNS = ("What's the weather in Paris?", "And in Oslo?", "Thanks!")
MAX_CALLS = 3  # tool rounds a turn may take before it must answer
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
}


def weather(arguments: str) -> str:
    try:
        city = json.loads(arguments).get("city", "?")
    except (ValueError, AttributeError):
        city = "?"
    return json.dumps({"city": city, "temperature": 18, "unit": "celsius", "condition": "sunny"})


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    store = tmp_path_factory.mktemp("store") / "responses.sqlite3"
    engine = build_engine(model_path(), EngineConfig(kv_cache_memory_bytes="64MiB"))
    app = start_app(engine, ServerSettings(responses_store=str(store)))
    yield app
    app.stop()


def responses_answers(live: LiveApp, seed: int) -> list[str]:
    """Each turn's message text (empty when a turn ended without one)."""
    client = openai.OpenAI(base_url=live.base_url, api_key="unused", max_retries=0)
    tools = [{"type": "function", **WEATHER}]
    random.seed(seed)
    answers, previous = [], None
    with client:
        for text in TURNS:
            response = client.responses.create(
                model=MODEL_NAME, input=text, tools=tools, previous_response_id=previous
            )
            for _ in range(MAX_CALLS):
                calls = [item for item in response.output if item.type == "function_call"]
                if not calls:
                    break
                outputs = [
                    {"type": "function_call_output", "call_id": c.call_id, "output": weather(c.arguments)}
                    for c in calls
                ]
                response = client.responses.create(
                    model=MODEL_NAME, input=outputs, tools=tools, previous_response_id=response.id
                )
            answers.append(response.output_text)
            previous = response.id
    return answers


def chat_answers(live: LiveApp, seed: int) -> list[str]:
    client = openai.OpenAI(base_url=live.base_url, api_key="unused", max_retries=0)
    tools = [{"type": "function", "function": WEATHER}]
    answers: list[str] = []
    messages: list[dict] = []
    with client:
        for t, text in enumerate(TURNS):
            messages.append({"role": "user", "content": text})
            for n in range(MAX_CALLS + 1):
                reply = (
                    client.chat.completions.create(
                        model=MODEL_NAME, messages=messages, tools=tools, seed=seed * 100 + t * 10 + n
                    )
                    .choices[0]
                    .message
                )
                if not reply.tool_calls or n == MAX_CALLS:
                    break
                # Sent back as the README's loop does: the calls with their reasoning, then results.
                reasoning = getattr(reply, "reasoning_content", None)
                messages.append(
                    {
                        "role": "assistant",
                        "tool_calls": [c.model_dump() for c in reply.tool_calls],
                        "reasoning_content": reasoning,
                    }
                )
                messages += [
                    {"role": "tool", "tool_call_id": c.id, "content": weather(c.function.arguments)}
                    for c in reply.tool_calls
                ]
            answers.append(reply.content or "")
            messages.append({"role": "assistant", "content": reply.content or ""})
    return answers


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
def test_every_turn_of_a_three_turn_conversation_ends_on_a_message(live, api):
    if api == "responses":  # one run at a time: each seeds the engine's draws in turn
        runs = {seed: responses_answers(live, seed) for seed in SEEDS}
    else:  # seeded per request, so the runs may share the engine's batches
        with ThreadPoolExecutor(len(SEEDS)) as pool:
            runs = dict(zip(SEEDS, pool.map(lambda seed: chat_answers(live, seed), SEEDS), strict=True))
    answered = [seed for seed, answers in runs.items() if all(a.strip() for a in answers)]
    assert len(answered) == len(SEEDS), runs
