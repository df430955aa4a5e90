"""Structured outputs that cannot be enforced are refused before any token, with a 400 naming the
parameter, and the server keeps serving: invalid schemas, keywords strict cannot enforce, regular
expressions and grammars that do not compile; on Chat Completions, Completions, Responses, Ollama."""

from __future__ import annotations

import httpx
import pytest

from tests.server.conftest import MODEL_NAME, LiveApp

OPEN = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
STRICT_OK = {**OPEN, "additionalProperties": False}
BAD_PATTERN = {**STRICT_OK, "properties": {"a": {"type": "string", "pattern": "[0-9"}}}
# A valid JSON Schema (ECMA regexes look around) that no Rust-regex engine can enforce.
LOOKAROUND = {**STRICT_OK, "properties": {"a": {"type": "string", "pattern": "^(?=a)a$"}}}
UNSUPPORTED = {**STRICT_OK, "patternProperties": {"^x": {"type": "string"}}}
MESSAGES = [{"role": "user", "content": "hi"}]


def _format(schema: dict, strict: bool = True) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": strict}}


def _tools(schema: dict) -> list[dict]:
    ok = {"type": "function", "function": {"name": "fine", "parameters": STRICT_OK}}
    bad = {"type": "function", "function": {"name": "broken", "parameters": schema, "strict": True}}
    return [ok, bad]


SCHEMA = "response_format.json_schema.schema"
CHAT_CASES = [
    ({"response_format": _format({"type": "nope"})}, SCHEMA, "Invalid JSON schema"),
    ({"response_format": _format(OPEN)}, SCHEMA, "additionalProperties"),
    ({"response_format": _format(UNSUPPORTED)}, SCHEMA, "patternProperties"),
    ({"response_format": _format(BAD_PATTERN)}, SCHEMA, "regex"),
    ({"response_format": _format(LOOKAROUND)}, SCHEMA, "look-around"),
    ({"response_format": _format({"type": "array", "items": {}})}, SCHEMA, "root"),
    ({"tools": _tools(UNSUPPORTED)}, "tools[1].function.parameters", "patternProperties"),
    ({"tools": _tools(OPEN)}, "tools[1].function.parameters", "additionalProperties"),
    ({"guided_regex": "[0-9"}, "guided_regex", "regular expression"),
    ({"structured_outputs": {"choice": []}}, "structured_outputs.choice", "choice"),
]

COMPLETION_CASES = [
    ({"guided_regex": "(unclosed"}, "guided_regex"),
    ({"structured_outputs": {"regex": "[a-"}}, "structured_outputs.regex"),
    ({"structured_outputs": {"grammar": "start: ::= oops"}}, "structured_outputs.grammar"),
    ({"guided_grammar": 'root ::= "a" ('}, "guided_grammar"),
    ({"guided_json": "{not json"}, "guided_json"),
    ({"structured_outputs": {"json": {"type": "object", "properties": {"a": {"pattern": "(x"}}}}},
     "structured_outputs.json"),
    ({"guided_regex": "a", "guided_choice": ["a"]}, "guided_choice"),
]


def _still_serving(app: LiveApp) -> None:
    reply = httpx.post(f"{app.base_url}/chat/completions", json={"model": MODEL_NAME, "messages": MESSAGES})
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(("fields", "param", "needle"), CHAT_CASES)
def test_chat_refuses_what_it_cannot_enforce(
    scripted_app: LiveApp, fields: dict, param: str, needle: str
) -> None:
    body = {"model": MODEL_NAME, "messages": MESSAGES, **fields}
    reply = httpx.post(f"{scripted_app.base_url}/chat/completions", json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == param and needle in error["message"], error
    _still_serving(scripted_app)


@pytest.mark.parametrize(("fields", "param"), COMPLETION_CASES)
def test_completions_refuse_bad_vllm_structured_outputs(
    scripted_app: LiveApp, fields: dict, param: str
) -> None:
    body = {"model": MODEL_NAME, "prompt": "Say:", "max_tokens": 4, **fields}
    reply = httpx.post(f"{scripted_app.base_url}/completions", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param, reply.text
    _still_serving(scripted_app)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"text": {"format": {"type": "json_schema", "name": "o", "schema": OPEN, "strict": True}}},
         "text.format.schema"),
        ({"tools": [{"type": "function", "name": "broken", "parameters": UNSUPPORTED, "strict": True}]},
         "tools[0].parameters"),
    ],
)
def test_responses_refuse_what_they_cannot_enforce(scripted_app: LiveApp, fields: dict, param: str) -> None:
    body = {"model": MODEL_NAME, "input": "hi", **fields}
    reply = httpx.post(f"{scripted_app.base_url}/responses", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param, reply.text
    _still_serving(scripted_app)


def test_ollama_refuses_a_format_it_cannot_enforce(scripted_app: LiveApp) -> None:
    body = {"model": MODEL_NAME, "messages": MESSAGES, "format": BAD_PATTERN, "stream": False}
    reply = httpx.post(f"{scripted_app.url}/api/chat", json=body)
    assert reply.status_code == 400, reply.text
    assert "regex" in reply.json()["error"]
    _still_serving(scripted_app)


def test_a_loose_tool_schema_that_cannot_compile_is_served_unconstrained(scripted_app: LiveApp) -> None:
    """Without strict, a tool's schema is enforced when it can be: one that cannot compile lets any
    JSON object through rather than failing a request the client did not mark strict."""
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": LOOKAROUND}}]
    body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "weather?"}], "tools": tools}
    reply = httpx.post(f"{scripted_app.base_url}/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
