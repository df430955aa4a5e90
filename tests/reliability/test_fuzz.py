"""A fuzz pass over every route of the served OpenAPI description (issue 19, item 7).

schemathesis generates requests from `/openapi.json` (every JSON body is documented there, the
Ollama routes included): valid ones (positive) and ones that break the schema (negative); a
hypothesis test adds bodies of any JSON shape on every route that takes one. The server is the
real app over the scripted engine on 127.0.0.1. What must hold for every request:
- no 5xx, and no traceback text in any body;
- an error body in the route's API shape: Ollama's `{"error": "..."}` under /api, OpenAI's
  `{"error": {"message", "type", ...}}` elsewhere;
- the server still answers GET /health.

Bounded for CI: a fixed number of examples per operation, derandomized (the same inputs every run),
no deadline (the host is shared). Hub access is fenced off: the hub cache and gossamer's home are
temporary folders and the hub is offline, so /api/pull and /api/delete touch nothing real.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from gossamer.testing.scripted_engine import ScriptedEngine
from tests.reliability.clean_answers import check_answer, offline_hub
from tests.server.conftest import MODEL_NAME, LiveApp, gpt_oss_script, start_app

pytestmark = pytest.mark.slow

EXAMPLES = 20  # per operation and mode: ~40 s for the whole file on the shared 2-core host


def _settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,  # the same inputs on every run: a failure here reproduces
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def offline(tmp_path_factory) -> Iterator[None]:
    with offline_hub(tmp_path_factory.mktemp("fuzz-hub")):
        yield


@pytest.fixture(scope="module")
def app(offline) -> Iterator[LiveApp]:
    live = start_app(ScriptedEngine(gpt_oss_script, max_context_length=4096, tokens_per_step=64))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(app: LiveApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app.url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def stored_ids(client: httpx.Client) -> list[str]:
    """Responses that exist, so the id routes are fuzzed past their 404 too (one in the background)."""
    ids = []
    for body in (
        {"model": MODEL_NAME, "input": "hi", "store": True},
        {"model": MODEL_NAME, "input": [{"type": "message", "role": "user", "content": "hi"}]},
        {"model": MODEL_NAME, "input": "hi", "background": True},
    ):
        answer = client.post("/v1/responses", json=body)
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["id"])
    return ids


def _unreachable_hub(path: str, answer: httpx.Response) -> bool:
    # A well-formed hub repo id ("owner/name") is pulled from the hub, which is offline here: that
    # failure is the server's environment, not the request (Ollama answers 500 for it too).
    return path == "/api/pull" and "cannot download" in answer.text


# -- schemathesis over /openapi.json ------------------------------------------------------------

REAL_MODEL = st.sampled_from([None, MODEL_NAME])
_HI = [{"role": "user", "content": "hi"}]
# A valid request per generating route: positive cases also graft a few of their fields onto it, so
# fuzzed values reach the route's deeper checks (rendering, the engine) instead of the first refusal.
BASES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": MODEL_NAME, "messages": _HI},
    "/v1/completions": {"model": MODEL_NAME, "prompt": "hi"},
    "/v1/responses": {"model": MODEL_NAME, "input": "hi"},
    "/tokenize": {"model": MODEL_NAME, "messages": _HI},
    "/detokenize": {"tokens": [1, 2, 3]},
    "/api/chat": {"model": MODEL_NAME, "messages": _HI, "stream": False},
    "/api/generate": {"model": MODEL_NAME, "prompt": "hi", "stream": False},
}


def _body_of(case: Any, model: str | None, graft: list[int] | None) -> Any:
    body = case.body
    if not isinstance(body, dict):
        return body
    if graft is not None and case.path in BASES:
        # graft: indices into the case's own fields; those fields replace the base's.
        keys = [key for i, key in enumerate(sorted(body)) if any(j % len(body) == i for j in graft)]
        body = {**BASES[case.path], **{key: body[key] for key in keys}}
    elif model is not None and "model" in body:
        body = {**body, "model": model}  # past the model check, into the route's own validation
    return body


def _send_case(
    client: httpx.Client, case: Any, model: str | None, graft: list[int] | None, stored: str | None
) -> httpx.Response:
    if stored is not None and "response_id" in (case.path_parameters or {}):
        case.path_parameters["response_id"] = stored
    request = case.as_transport_kwargs(base_url=str(client.base_url))
    headers = {k: v for k, v in (request.get("headers") or {}).items() if k.lower() != "content-length"}
    content = request.get("data")
    if "json" in request:
        content = json.dumps(_body_of(case, model, graft)).encode()
        headers["content-type"] = "application/json"
    return client.request(
        request["method"], request["url"], params=request.get("params"), content=content, headers=headers
    )


def _operations(app: LiveApp) -> list[Any]:
    spec = httpx.get(app.url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_every_operation_answers_cleanly(
    app: LiveApp, client: httpx.Client, stored_ids: list[str], mode: str
) -> None:
    operations = _operations(app)
    assert len(operations) >= 20  # the OpenAI, Ollama and server routes are all described
    generation_mode = schemathesis.GenerationMode(mode)
    ran = {}
    for operation in operations:
        count = 0

        @_settings(EXAMPLES)
        @given(
            case=operation.as_strategy(generation_mode=generation_mode),
            model=REAL_MODEL,
            graft=(st.none() | st.lists(st.integers(0, 64), min_size=1, max_size=3))
            if mode == "positive"
            else st.none(),
            stored=st.sampled_from([None, *stored_ids]),
        )
        def fuzz(case: Any, model: str | None, graft: list[int] | None, stored: str | None) -> None:
            nonlocal count
            count += 1
            answer = _send_case(client, case, model, graft, stored)
            check_answer(client, case.formatted_path, answer, may_fail=_unreachable_hub(case.path, answer))

        # Unsatisfiable: nothing to break in this operation's schema (no body, no typed parameter).
        with contextlib.suppress(Unsatisfiable):
            fuzz()
        ran[operation.label] = count
    assert sum(ran.values()) >= EXAMPLES * 10, ran


# -- any JSON shape on the routes that take a body -------------------------------------------------

BODY_ROUTES = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/responses"),
    ("POST", "/tokenize"),
    ("POST", "/detokenize"),
    ("POST", "/api/chat"),
    ("POST", "/api/generate"),
    ("POST", "/api/show"),
    ("POST", "/api/pull"),
    ("DELETE", "/api/delete"),
]

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
# Keys the routes read, with values of any shape: bodies that get past "not an object".
_FIELDS = st.sampled_from(
    [
        "model",
        "messages",
        "prompt",
        "input",
        "tools",
        "tool_choice",
        "stream",
        "options",
        "format",
        "response_format",
        "max_tokens",
        "n",
        "seed",
        "logit_bias",
        "metadata",
        "instructions",
        "tokens",
        "previous_response_id",
        "text",
        "reasoning",
        "think",
        "stop",
        "logprobs",
        "name",
        "context",
    ]
)
_BODIES = _JSON | st.builds(
    lambda fields, model: {**fields, "model": model} if model else fields,
    st.dictionaries(_FIELDS, _JSON, max_size=5),
    st.sampled_from([None, MODEL_NAME, "gpt-oss:20b"]),
)


@_settings(120)
@given(route=st.sampled_from(BODY_ROUTES), body=_BODIES)
def test_any_json_body_answers_cleanly(client: httpx.Client, route: tuple[str, str], body: Any):
    method, path = route
    answer = client.request(
        method, path, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    check_answer(client, path, answer, may_fail=_unreachable_hub(path, answer))
