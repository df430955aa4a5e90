"""Bad input gets an OpenAI-shaped 4xx, and the server keeps serving; what the SDK cannot send goes raw."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import GREETING, MODEL_NAME, LiveApp, gpt_oss_script, start_app
from tests.spec_validation import validate

HI = [{"role": "user", "content": "hi"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def chat(**overrides) -> dict:
    return {"model": MODEL_NAME, "messages": HI, **overrides}


def assert_error(
    response: httpx.Response, status: int, param: str | None = None, code: str | None = None
) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    if param is not None:
        assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    validate(body, "ErrorResponse")
    return error


def assert_still_serving(app: LiveApp) -> None:
    response = httpx.post(app.base_url + "/chat/completions", json=chat(), timeout=30)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == GREETING


CASES = [
    pytest.param(
        {
            "content": b'{"model": "gpt-oss-20b", "messages": [',
            "headers": {"content-type": "application/json"},
        },
        400,
        None,
        id="invalid-json",
    ),
    pytest.param({"json": chat(messages="hi")}, 400, "messages", id="messages-not-a-list"),
    pytest.param({"json": chat(temperature="hot")}, 400, "temperature", id="temperature-wrong-type"),
    pytest.param(
        {"json": chat(messages=[{"role": "user", "content": 5}])},
        400,
        "messages[0].content",
        id="content-wrong-type",
    ),
    pytest.param({"json": chat(stop=7)}, 400, "stop", id="stop-wrong-type"),
    pytest.param({"json": [1, 2, 3]}, 400, None, id="body-not-an-object"),
    pytest.param({"json": chat(temperature=3)}, 400, "temperature", id="temperature-out-of-range"),
    pytest.param({"json": chat(stream="yes please")}, 400, "stream", id="stream-wrong-type"),
    pytest.param({"json": {"messages": HI}}, 400, "model", id="model-missing"),
    pytest.param({"json": chat(model="gpt-5-ultra")}, 404, "model", id="unknown-model"),
    pytest.param({"json": chat(messages=[])}, 400, "messages", id="empty-messages"),
    pytest.param(
        {"json": chat(messages=[{"role": "wizard", "content": "hi"}])}, 400, None, id="unknown-role"
    ),
    pytest.param(
        {
            "json": chat(
                messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
            )
        },
        400,
        "messages[0].content[0].type",
        id="image-content",
    ),
    pytest.param(
        {"json": chat(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": 12}}}])},
        400,
        "tools[0].function.parameters",
        id="tool-invalid-schema",
    ),
    pytest.param(
        {
            "json": chat(
                tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]
            )
        },
        400,
        "tools[0].function.parameters",
        id="tool-schema-not-object",
    ),
    pytest.param(
        {"json": chat(tools=[{"type": "function", "function": {"name": "bad name!"}}])},
        400,
        None,
        id="tool-bad-name",
    ),
    pytest.param(
        {"json": chat(messages=[*HI, {"role": "tool", "tool_call_id": "call_nope", "content": "42"}])},
        400,
        "messages[1].tool_call_id",
        id="tool-message-without-call",
    ),
    pytest.param(
        {"json": chat(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "other"}})},
        400,
        "tool_choice",
        id="tool-choice-names-no-tool",
    ),
    pytest.param(
        {"json": chat(tool_choice="required")}, 400, "tool_choice", id="tool-choice-required-no-tools"
    ),
    pytest.param({"json": chat(max_tokens=-5)}, 400, "max_tokens", id="negative-max-tokens"),
    pytest.param({"json": chat(max_completion_tokens=0)}, 400, "max_completion_tokens", id="zero-max-tokens"),
    pytest.param({"json": chat(n=0)}, 400, "n", id="n-zero"),
    pytest.param({"json": chat(n=1000)}, 400, "n", id="n-impossible"),
    pytest.param({"json": chat(logit_bias={"hello": 3})}, 400, "logit_bias", id="logit-bias-key"),
    pytest.param({"json": chat(logit_bias={"12": 500})}, 400, "logit_bias", id="logit-bias-value"),
    pytest.param({"json": chat(logit_bias={"999999999": 1})}, 400, "logit_bias", id="logit-bias-token"),
    pytest.param({"json": chat(top_logprobs=3)}, 400, "top_logprobs", id="top-logprobs-without-logprobs"),
    pytest.param(
        {"json": chat(top_logprobs=50, logprobs=True)}, 400, "top_logprobs", id="top-logprobs-too-many"
    ),
    pytest.param({"json": chat(stop=["a", "b", "c", "d", "e"])}, 400, "stop", id="too-many-stops"),
    pytest.param(
        {
            "json": chat(
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}
            )
        },
        400,
        "response_format.json_schema.schema",
        id="response-format-bad-schema",
    ),
    pytest.param({"json": chat(response_format={"type": "yaml"})}, 400, None, id="response-format-unknown"),
    pytest.param(
        {"json": chat(reasoning_effort="extreme")}, 400, "reasoning_effort", id="bad-reasoning-effort"
    ),
]


@pytest.mark.parametrize(("request_kwargs", "status", "param"), CASES)
def test_bad_chat_request(
    scripted_app: LiveApp, request_kwargs: dict, status: int, param: str | None
) -> None:
    response = httpx.post(scripted_app.base_url + "/chat/completions", timeout=30, **request_kwargs)
    assert_error(response, status, param)
    assert_still_serving(scripted_app)


def test_context_overflow_names_the_limit(scripted_app: LiveApp) -> None:
    long_text = "word " * 5000  # ~5000 tokens; the scripted engine holds 4096
    response = httpx.post(
        scripted_app.base_url + "/chat/completions",
        json=chat(messages=[{"role": "user", "content": long_text}]),
        timeout=30,
    )
    error = assert_error(response, 400, code="context_length_exceeded")
    assert "4096" in error["message"]
    response = httpx.post(
        scripted_app.base_url + "/chat/completions", json=chat(max_tokens=10_000), timeout=30
    )
    error = assert_error(response, 400, "max_tokens", "context_length_exceeded")
    assert "4096" in error["message"]
    assert_still_serving(scripted_app)


def test_sdk_raises_typed_errors(scripted_app: LiveApp) -> None:
    with openai.OpenAI(base_url=scripted_app.base_url, api_key="unused", max_retries=0) as client:
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=HI)
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model=MODEL_NAME, messages=HI, max_tokens=-1)
        assert info.value.param == "max_tokens"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-oss-120b")


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/v1/completions", {"model": MODEL_NAME}, 400, "prompt"),
        ("/v1/completions", {"model": MODEL_NAME, "prompt": ""}, 400, "prompt"),
        ("/v1/completions", {"model": MODEL_NAME, "prompt": [1, 2, -7]}, 400, "prompt"),
        ("/v1/completions", {"model": MODEL_NAME, "prompt": "hi", "max_tokens": -1}, 400, "max_tokens"),
        ("/v1/completions", {"model": MODEL_NAME, "prompt": "hi", "logprobs": 99}, 400, "logprobs"),
        ("/v1/completions", {"model": "nope", "prompt": "hi"}, 404, "model"),
        ("/v1/completions", {"model": MODEL_NAME, "prompt": "word " * 5000}, 400, "prompt"),
        ("/tokenize", {"model": MODEL_NAME, "prompt": 5}, 400, None),
        ("/detokenize", {"model": MODEL_NAME, "tokens": [1, 99999999]}, 400, "tokens"),
        ("/detokenize", {"model": "nope", "tokens": [1]}, 404, "model"),
    ],
)
def test_bad_requests_elsewhere(
    scripted_app: LiveApp, path: str, body: dict, status: int, param: str | None
) -> None:
    response = httpx.post(scripted_app.url + path, json=body, timeout=30)
    assert_error(response, status, param)
    assert_still_serving(scripted_app)


def test_unknown_route_and_method(scripted_app: LiveApp) -> None:
    assert_error(httpx.get(scripted_app.url + "/v1/nothing-here", timeout=10), 404)
    assert_error(httpx.get(scripted_app.base_url + "/chat/completions", timeout=10), 405)


@pytest.fixture(scope="module")
def keyed_app() -> Iterator[LiveApp]:
    settings = ServerSettings(api_key="sekrit-key", cors_origins=["http://example.test"])
    app = start_app(ScriptedEngine(gpt_oss_script), settings)
    yield app
    app.stop()


def test_api_key_required_and_checked(keyed_app: LiveApp) -> None:
    url = keyed_app.base_url + "/chat/completions"
    assert_error(httpx.post(url, json=chat(), timeout=30), 401, code="invalid_api_key")
    wrong = httpx.post(url, json=chat(), headers={"Authorization": "Bearer sekrit-kez"}, timeout=30)
    assert_error(wrong, 401, code="invalid_api_key")
    ok = httpx.post(url, json=chat(), headers={"Authorization": "Bearer sekrit-key"}, timeout=30)
    assert ok.status_code == 200
    assert httpx.get(keyed_app.url + "/health", timeout=10).status_code == 200  # probes need no key
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=keyed_app.base_url, api_key="wrong", max_retries=0).models.list()
    models = openai.OpenAI(base_url=keyed_app.base_url, api_key="sekrit-key").models.list()
    assert [m.id for m in models.data] == [MODEL_NAME]


def test_cors_preflight_and_headers(keyed_app: LiveApp) -> None:
    preflight = httpx.options(
        keyed_app.base_url + "/chat/completions",
        headers={
            "Origin": "http://example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://example.test"
    other = httpx.options(
        keyed_app.base_url + "/chat/completions",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in other.headers


def test_queue_full_is_429() -> None:
    app = start_app(ScriptedEngine(gpt_oss_script, max_running=0))
    try:
        response = httpx.post(app.base_url + "/chat/completions", json=chat(), timeout=30)
        assert_error(response, 429, code="rate_limit_exceeded")
        assert response.headers.get("retry-after") == "1"
        with pytest.raises(openai.RateLimitError):
            openai.OpenAI(base_url=app.base_url, api_key="x", max_retries=0).chat.completions.create(
                model=MODEL_NAME, messages=HI
            )
    finally:
        app.stop()
