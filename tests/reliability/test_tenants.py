"""Several API keys, each a tenant: neither reads, chains from, references, lists or deletes the
other's stored responses, nor gets the other's reasoning replayed; health and metrics can be
put behind the key too."""

from __future__ import annotations

import httpx
import openai
import pytest

from gossamer.harmony.tokenizer import decode_text
from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import MODEL_NAME, LiveApp, gpt_oss_script, start_app

WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object"}},
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys") / "keys.txt"
    keys.write_text("# one key per line\ncarol-key\n")
    live = start_app(
        ScriptedEngine(gpt_oss_script, max_context_length=4096),
        ServerSettings(api_key="alice-key,bob-key", api_keys_file=str(keys), protect_health_metrics=True),
    )
    yield live
    live.stop()


def client(app: LiveApp, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=app.base_url, api_key=key, max_retries=0)


def test_stored_responses_are_the_keys_own(app):
    alice, bob = client(app, "alice-key"), client(app, "bob-key")
    first = alice.responses.create(model=MODEL_NAME, input="hi")
    item_id = alice.responses.input_items.list(first.id).data[0].id
    assert alice.responses.retrieve(first.id).id == first.id

    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.input_items.list(first.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model=MODEL_NAME, input="and?", previous_response_id=first.id)
    with pytest.raises(openai.NotFoundError):  # an item of alice's cannot be referenced by bob
        bob.responses.create(model=MODEL_NAME, input=[{"type": "item_reference", "id": item_id}])
    with pytest.raises(openai.NotFoundError):
        bob.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.cancel(first.id)

    chained = alice.responses.create(model=MODEL_NAME, input="and?", previous_response_id=first.id)
    assert chained.status == "completed"
    carol = client(app, "carol-key")  # a key from the keys file: a tenant of its own
    with pytest.raises(openai.NotFoundError):
        carol.responses.retrieve(first.id)
    alice.responses.delete(first.id)


def test_replayed_reasoning_is_the_keys_own(app):
    alice, bob = client(app, "alice-key"), client(app, "bob-key")
    question = [{"role": "user", "content": "What's the weather in Paris?"}]
    call = alice.chat.completions.create(model=MODEL_NAME, messages=question, tools=[WEATHER_TOOL])
    tool_call = call.choices[0].message.tool_calls[0]
    dropped = [  # the turn sent back without its reasoning, as LangChain does
        *question,
        {"role": "assistant", "content": None, "tool_calls": [tool_call.model_dump()]},
        {"role": "tool", "tool_call_id": tool_call.id, "content": "18 degrees"},
    ]
    bob.chat.completions.create(model=MODEL_NAME, messages=dropped)
    assert "I should call get_weather." not in decode_text(app.engine.requests[-1].prompt_ids)
    alice.chat.completions.create(model=MODEL_NAME, messages=dropped)
    assert "I should call get_weather." in decode_text(app.engine.requests[-1].prompt_ids)


def test_keys_are_required_everywhere_when_asked(app):
    def status(path: str, key: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(app.url + path, headers=headers, timeout=10).status_code

    for path in ("/health", "/metrics", "/v1/models"):
        assert (status(path), status(path, "carol-key"), status(path, "mallory")) == (401, 200, 401)
