"""Message shapes OpenAI's Chat Completions accepts, as real clients replay them: each gets a 200
and the prompt the model reads keeps the turn (the scripted engine records every prompt)."""

from __future__ import annotations

import httpx
import pytest

from gossamer.harmony.tokenizer import decode_text
from tests.server.conftest import MODEL_NAME, LiveApp

USER = {"role": "user", "content": "hi"}
AGAIN = {"role": "user", "content": "and again?"}
EMPTY_ANSWER = "<|start|>assistant<|channel|>final<|message|><|end|>"


def post(app: LiveApp, messages: list[dict]) -> httpx.Response:
    body = {"model": MODEL_NAME, "messages": messages, "max_tokens": 32}
    return httpx.post(f"{app.base_url}/chat/completions", json=body, timeout=30)


def last_prompt(app: LiveApp) -> str:
    return decode_text(app.engine.requests[-1].prompt_ids)


@pytest.mark.parametrize(
    "assistant",
    [
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": None},
        {"role": "assistant"},
        {"role": "assistant", "content": [{"type": "text", "text": ""}]},
        {"role": "assistant", "content": "", "reasoning_content": "Nothing to say."},
    ],
    ids=["empty-string", "null", "missing", "empty-text-part", "reasoning-only"],
)
def test_an_empty_assistant_turn_is_a_valid_turn(scripted_app, assistant):
    answer = post(scripted_app, [USER, assistant, AGAIN])
    assert answer.status_code == 200, answer.text
    prompt = last_prompt(scripted_app)
    assert EMPTY_ANSWER in prompt
    assert prompt.index("hi") < prompt.index(EMPTY_ANSWER) < prompt.index("and again?")


@pytest.mark.parametrize(
    "assistant",
    [
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
        {"role": "assistant", "content": None, "refusal": "I can't help with that."},
    ],
    ids=["refusal-part", "refusal-field"],
)
def test_a_refusal_is_the_turn_the_model_wrote(scripted_app, assistant):
    answer = post(scripted_app, [USER, assistant, AGAIN])
    assert answer.status_code == 200, answer.text
    assert "<|channel|>final<|message|>I can't help with that.<|end|>" in last_prompt(scripted_app)


def test_the_deprecated_function_call_and_function_role(scripted_app):
    call = {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    messages = [
        USER,
        {"role": "assistant", "content": None, "function_call": call},
        {"role": "function", "name": "get_weather", "content": '{"temperature": 4}'},
    ]
    answer = post(scripted_app, messages)
    assert answer.status_code == 200, answer.text
    prompt = last_prompt(scripted_app)
    assert 'get_weather<|channel|>commentary <|constrain|>json<|message|>{"city":"Oslo"}<|call|>' in prompt
    assert 'functions.get_weather to=assistant<|channel|>commentary<|message|>{"temperature": 4}' in prompt
    unanswerable = post(scripted_app, [USER, {"role": "function", "name": "get_time", "content": "12:00"}])
    assert unanswerable.status_code == 400 and unanswerable.json()["error"]["param"] == "messages[1].name"


def test_text_parts_names_and_audio_references(scripted_app):
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}], "name": "ops"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "ann"},
        {"role": "assistant", "content": "Hello!", "name": "bot", "audio": {"id": "audio_1"}},
        AGAIN,
    ]
    answer = post(scripted_app, messages)
    assert answer.status_code == 200, answer.text
    assert "Be brief." in last_prompt(scripted_app)


def test_parts_the_model_cannot_read_are_refused_by_name(scripted_app):
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    answer = post(scripted_app, [{"role": "user", "content": [image]}])
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "messages[0].content[0].type"
