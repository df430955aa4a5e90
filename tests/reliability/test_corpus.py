"""The malformed-input corpus of issue 19 as regression tests, and more of its kind.

Every input here once answered 500, or could: lone UTF-16 surrogates, seeds past 64 bits, a
logit_bias key that Python's int() reads but is no token id, schemas nested deeper than the
parsers and validators recurse, non-string item ids, JSON nested thousands deep, folders that are
not models, bodies of 300,000 messages or 50 MB, NaN and Infinity, wrong types in every field.
Each must get a 4xx (413 and 415 included) in the route's error shape, never a 5xx, and leave the
server healthy. Bodies that httpx's `json=` cannot encode (lone surrogates, NaN) go as raw bytes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.reliability.clean_answers import check_answer, error_message, offline_hub
from tests.server.conftest import MODEL_NAME, LiveApp, gpt_oss_script, start_app

JSON = {"content-type": "application/json"}
HI = [{"role": "user", "content": "hi"}]
BODY_LIMIT = 16 << 20  # room for 300,000 messages, so the message limit is what refuses them

# A valid request per generating route; cases below change one thing in it.
BASES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": MODEL_NAME, "messages": HI},
    "/v1/completions": {"model": MODEL_NAME, "prompt": "hi"},
    "/v1/responses": {"model": MODEL_NAME, "input": "hi"},
    "/api/chat": {"model": MODEL_NAME, "messages": HI, "stream": False},
    "/api/generate": {"model": MODEL_NAME, "prompt": "hi", "stream": False},
}
GENERATING = list(BASES)


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("corpus-hub")
    with offline_hub(root):
        yield root


@pytest.fixture(scope="module")
def app(hub_root: Path) -> Iterator[LiveApp]:
    settings = ServerSettings(allow_local_paths=True, max_body_bytes=BODY_LIMIT)
    live = start_app(ScriptedEngine(gpt_oss_script, max_context_length=4096, tokens_per_step=64), settings)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(app: LiveApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app.url, timeout=60) as http:
        yield http


def send(client: httpx.Client, path: str, raw: bytes, method: str = "POST") -> httpx.Response:
    return client.request(method, path, content=raw, headers=JSON)


def refused(client: httpx.Client, path: str, answer: httpx.Response, status: int = 400) -> str:
    """The answer is `status` in the route's shape and the server is fine; returns the message."""
    check_answer(client, path, answer)
    assert answer.status_code == status, (path, answer.status_code, answer.text[:400])
    return error_message(path, answer)


def with_marker(body: dict[str, Any], marker: str, replacement: str) -> bytes:
    """`body` as JSON bytes with each string `marker` replaced by raw JSON text (`\\ud800`, NaN)."""
    return json.dumps(body).replace(json.dumps(marker)[1:-1], replacement).encode()


# -- lone surrogates --------------------------------------------------------------------------

S = "@SURROGATE@"
SURROGATE_CASES = [
    ("/v1/chat/completions", {"model": S, "messages": HI}),
    ("/v1/chat/completions", {"model": MODEL_NAME, "messages": [{"role": "user", "content": S}]}),
    ("/v1/chat/completions", {"model": MODEL_NAME, "messages": HI, "user": S}),
    ("/v1/chat/completions", {"model": MODEL_NAME, "messages": HI, "stop": [S]}),
    ("/v1/chat/completions", {"model": MODEL_NAME, "messages": HI, "logit_bias": {S: 1}}),
    (
        "/v1/chat/completions",
        {
            "model": MODEL_NAME,
            "messages": HI,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": {"name": S}},
        },
    ),
    ("/v1/completions", {"model": S, "prompt": "hi"}),
    ("/v1/completions", {"model": MODEL_NAME, "prompt": S}),
    ("/v1/responses", {"model": S, "input": "hi"}),
    ("/v1/responses", {"model": MODEL_NAME, "input": "hi", "metadata": {"k": S}}),
    ("/v1/responses", {"model": MODEL_NAME, "input": "hi", "metadata": {S: "v"}}),
    ("/v1/responses", {"model": MODEL_NAME, "input": "hi", "user": S}),
    ("/v1/responses", {"model": MODEL_NAME, "input": "hi", "previous_response_id": S}),
    ("/v1/responses", {"model": MODEL_NAME, "input": "hi", "instructions": S}),
    (
        "/v1/responses",
        {
            "model": MODEL_NAME,
            "input": "hi",
            "tools": [{"type": "function", "name": "f"}],
            "tool_choice": {"type": "function", "name": S},
        },
    ),
    (
        "/v1/responses",
        {"model": MODEL_NAME, "input": [{"type": "message", "role": "user", "content": "hi", "id": S}]},
    ),
    ("/v1/responses", {"model": MODEL_NAME, "input": [{"type": "item_reference", "id": S}]}),
    ("/tokenize", {"model": S, "prompt": "hi"}),
    ("/api/chat", {"model": S, "messages": HI}),
    ("/api/chat", {"model": MODEL_NAME, "messages": [{"role": "user", "content": S}], "stream": False}),
    ("/api/generate", {"model": MODEL_NAME, "prompt": S, "stream": False}),
    ("/api/show", {"model": S}),
    ("/api/pull", {"model": S, "stream": False}),
]


@pytest.mark.parametrize(("path", "body"), SURROGATE_CASES, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\udc00\\ud800"])
def test_lone_surrogates_are_refused(client: httpx.Client, path: str, body: dict[str, Any], escape: str):
    message = refused(client, path, send(client, path, with_marker(body, S, escape)))
    assert "surrogate" in message


def test_lone_surrogate_on_delete_is_refused(client: httpx.Client):
    answer = send(client, "/api/delete", with_marker({"model": S}, S, "\\ud800"), method="DELETE")
    assert "surrogate" in refused(client, "/api/delete", answer)


def test_a_surrogate_pair_is_text_and_reads_back(client: httpx.Client):
    """A well-formed pair (an emoji) is ordinary text: stored, and read back the same."""
    body = {"model": MODEL_NAME, "input": "hi " + S, "metadata": {"k": S}, "user": S}
    answer = send(client, "/v1/responses", with_marker(body, S, "\\ud83d\\ude00"))
    check_answer(client, "/v1/responses", answer)
    assert answer.status_code == 200, answer.text
    stored = client.get(f"/v1/responses/{answer.json()['id']}").json()
    assert stored["metadata"] == {"k": "😀"} and stored["user"] == "😀"


def test_control_characters_are_stored_and_read_back(client: httpx.Client):
    """NUL and friends are valid JSON strings: SQLite keeps them and every read gives them back."""
    odd = "a\u0000b\u001f\u202e\ufeff"
    body = {"model": MODEL_NAME, "input": odd, "metadata": {odd: odd}, "user": odd, "instructions": odd}
    answer = client.post("/v1/responses", json=body)
    check_answer(client, "/v1/responses", answer)
    response_id = answer.json()["id"]
    stored = client.get(f"/v1/responses/{response_id}").json()
    assert stored["metadata"] == {odd: odd} and stored["user"] == odd and stored["instructions"] == odd
    items = client.get(f"/v1/responses/{response_id}/input_items").json()["data"]
    assert items[0]["content"][0]["text"] == odd
    chained = client.post(
        "/v1/responses", json={**BASES["/v1/responses"], "previous_response_id": response_id}
    )
    check_answer(client, "/v1/responses", chained)
    assert chained.status_code == 200


# -- numbers out of range ---------------------------------------------------------------------

SEED_CASES = [
    ("/v1/chat/completions", "seed"),
    ("/v1/completions", "seed"),
    ("/api/chat", "options.seed"),
    ("/api/generate", "options.seed"),
]


def _set(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of `body` with `value` at `dotted` ("options.seed")."""
    out = json.loads(json.dumps(body))
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


@pytest.mark.parametrize(("path", "field"), SEED_CASES)
@pytest.mark.parametrize("seed", [2**64, 2**63, -(2**63) - 1, 2**200, -(2**200)])
def test_seeds_outside_64_bits_are_refused(client: httpx.Client, path: str, field: str, seed: int):
    message = refused(client, path, client.post(path, json=_set(BASES[path], field, seed)))
    assert "seed" in message


@pytest.mark.parametrize(("path", "field"), SEED_CASES)
def test_seeds_at_the_64_bit_bounds_are_taken(client: httpx.Client, path: str, field: str):
    for seed in (2**63 - 1, -(2**63)):
        answer = client.post(path, json=_set(BASES[path], field, seed))
        check_answer(client, path, answer)
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
@pytest.mark.parametrize("key", ["²", "١٢", "-1", "1.0", "", "0x10", "1_0", "+5", "5\u0000", "201088"])
def test_logit_bias_keys_must_be_token_ids(client: httpx.Client, path: str, key: str):
    message = refused(client, path, client.post(path, json={**BASES[path], "logit_bias": {key: 1}}))
    assert "logit_bias" in message


_SAMPLING = ["temperature", "top_p", "presence_penalty", "frequency_penalty", "max_tokens", "n", "seed"]
_OLLAMA = ["options.temperature", "options.top_p", "options.top_k", "options.min_p", "options.seed"]
NUMERIC_FIELDS = {
    "/v1/chat/completions": [*_SAMPLING, "top_logprobs", "logit_bias.5"],
    "/v1/completions": [*_SAMPLING, "logprobs", "top_k", "min_p", "logit_bias.5"],
    "/v1/responses": ["temperature", "top_p", "max_output_tokens", "top_logprobs"],
    "/api/chat": [*_OLLAMA, "options.num_ctx", "options.num_predict", "options.presence_penalty"],
    "/api/generate": [*_OLLAMA, "options.num_ctx", "options.frequency_penalty"],
}


@pytest.mark.parametrize("path", GENERATING)
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_nan_and_infinity_are_refused(client: httpx.Client, path: str, literal: str):
    for field in NUMERIC_FIELDS[path]:
        raw = with_marker(_set(BASES[path], field, "@NUMBER@"), "@NUMBER@", literal)
        refused(client, path, send(client, path, raw))


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/v1/chat/completions", "n", 2**70),
        ("/v1/chat/completions", "max_tokens", 2**70),
        ("/v1/chat/completions", "max_completion_tokens", -1),
        ("/v1/chat/completions", "top_logprobs", 2**70),
        ("/v1/completions", "prompt", [2**70]),
        ("/v1/completions", "prompt", [-1]),
        ("/v1/completions", "prompt", [[201088]]),
        ("/v1/completions", "stop_token_ids", [2**64]),
        ("/v1/completions", "best_of", 2**70),
        ("/v1/responses", "top_logprobs", 2**70),
        ("/v1/responses", "max_output_tokens", 0),
        ("/api/generate", "options.num_ctx", 0),
        ("/api/chat", "options.top_p", 2),
    ],
)
def test_numbers_out_of_range_are_refused(client: httpx.Client, path: str, field: str, value: Any):
    refused(client, path, client.post(path, json=_set(BASES[path], field, value)))


@pytest.mark.parametrize("tokens", [[2**70], [-1], [201088]])
def test_detokenize_refuses_ids_outside_the_vocabulary(client: httpx.Client, tokens: list[int]):
    refused(client, "/detokenize", client.post("/detokenize", json={"tokens": tokens}))


# -- deep nesting -------------------------------------------------------------------------------


def nested_schema(levels: int) -> dict[str, Any]:
    """A JSON schema `levels` objects deep (two JSON levels each: properties, then the property)."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def schema_places(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every place a generating route takes a JSON schema, with `schema` in it."""
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    return [
        (
            "/v1/chat/completions",
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}},
        ),
        ("/v1/chat/completions", {"tools": [tool]}),
        ("/v1/chat/completions", {"guided_json": schema}),
        ("/v1/completions", {"guided_json": schema}),
        ("/v1/completions", {"guided_json": json.dumps(schema)}),
        ("/v1/completions", {"structured_outputs": {"json": schema}}),
        ("/v1/responses", {"text": {"format": {"type": "json_schema", "name": "x", "schema": schema}}}),
        ("/v1/responses", {"tools": [{"type": "function", "name": "f", "parameters": schema}]}),
        ("/api/chat", {"format": schema}),
        ("/api/chat", {"tools": [tool]}),
        ("/api/generate", {"format": schema}),
        ("/tokenize", {"messages": HI, "tools": [tool]}),
    ]


@pytest.mark.parametrize("index", range(len(schema_places({}))))
def test_schemas_300_levels_deep_are_refused(client: httpx.Client, index: int):
    path, extra = schema_places(nested_schema(300))[index]
    message = refused(
        client, path, client.post(path, json={**BASES.get(path, {"model": MODEL_NAME}), **extra})
    )
    assert "nest" in message or "deep" in message or "recursion" in message, message


@pytest.mark.parametrize("index", range(len(schema_places({}))))
def test_schemas_deeper_than_the_validators_recurse_answer_cleanly(client: httpx.Client, index: int):
    """90 levels: within the body parser's depth, beyond jsonschema's recursion (it needed ~8 frames
    a level: chat and /tokenize answered 500) and beyond --max-schema-depth where that applies."""
    path, extra = schema_places(nested_schema(90))[index]
    answer = client.post(path, json={**BASES.get(path, {"model": MODEL_NAME}), **extra})
    check_answer(client, path, answer)
    if path != "/v1/completions" and "guided_json" not in extra:  # vLLM's fields are not bounded by depth
        assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
@pytest.mark.parametrize("field", ["guided_json", "structured_outputs.json"])
def test_a_schema_string_nested_thousands_deep_is_refused(client: httpx.Client, path: str, field: str):
    """A schema sent as a JSON string escapes the body parser's depth limit; Python's json recursed
    through it and failed with RecursionError (a 500)."""
    deep = '{"type":"array","items":' * 5000 + "{}" + "}" * 5000
    message = refused(client, path, client.post(path, json=_set(BASES[path], field, deep)))
    assert "recursion" in message


def test_a_large_schema_is_refused_quickly(client: httpx.Client):
    """30,000 properties: Chat's metaschema check took 17 s of GIL here before the node limit."""
    schema = {"type": "object", "properties": {f"p{i}": {"type": "object"} for i in range(30_000)}}
    body = {
        **BASES["/v1/chat/completions"],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    start = time.perf_counter()
    message = refused(client, "/v1/chat/completions", client.post("/v1/chat/completions", json=body))
    assert "--max-schema-nodes" in message
    assert time.perf_counter() - start < 5


ROUTES_WITH_BODIES = [*GENERATING, "/tokenize", "/detokenize", "/api/show", "/api/pull", "/api/delete"]


@pytest.mark.parametrize("path", ROUTES_WITH_BODIES)
@pytest.mark.parametrize("shape", ["arrays", "objects", "inside"])
def test_json_nested_thousands_deep_is_refused(client: httpx.Client, path: str, shape: str):
    depth = 100_000
    raw = {
        "arrays": b"[" * depth + b"]" * depth,
        "objects": b'{"a":' * depth + b"1" + b"}" * depth,
        "inside": b'{"model":"' + MODEL_NAME.encode() + b'","options":' + b"[" * depth + b"]" * depth + b"}",
    }[shape]
    method = "DELETE" if path == "/api/delete" else "POST"
    message = refused(client, path, send(client, path, raw, method))
    assert "nests deeper" in message


# -- item ids, references, folders --------------------------------------------------------------

ITEMS = [
    {"type": "message", "role": "user", "content": "hi"},
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    {"type": "reasoning", "summary": []},
    {"type": "item_reference"},
]


@pytest.mark.parametrize("item", ITEMS, ids=lambda item: item["type"])
@pytest.mark.parametrize("item_id", [5, 1.5, True, [], {}, ["id"]], ids=repr)
def test_input_item_ids_must_be_strings(
    app: LiveApp, client: httpx.Client, item: dict[str, Any], item_id: Any
):
    """Refused before any token: the answer used to be generated, then lost when it was stored."""
    before = len(app.engine.requests)
    body = {
        "model": MODEL_NAME,
        "input": [
            {**item, "id": item_id},
            *([] if item["type"] == "message" else [{"role": "user", "content": "go"}]),
        ],
    }
    answer = client.post("/v1/responses", json=body)
    refused(client, "/v1/responses", answer)
    assert answer.json()["error"]["param"] == "input[0].id"
    assert len(app.engine.requests) == before


@pytest.mark.parametrize(
    "reference",
    ["nope", "", "x" * 100_000, "resp_" + "0" * 32, "msg_\u0000", "%00", "../../etc/passwd"],
)
def test_references_to_nothing_are_404s(client: httpx.Client, reference: str):
    answer = client.post("/v1/responses", json={**BASES["/v1/responses"], "previous_response_id": reference})
    if reference:  # an empty previous_response_id means none
        refused(client, "/v1/responses", answer, 404)
    body = {"model": MODEL_NAME, "input": [{"type": "item_reference", "id": reference}]}
    refused(client, "/v1/responses", client.post("/v1/responses", json=body), 404)


@pytest.mark.parametrize("stream", [False, True])
def test_pulling_a_folder_that_is_not_a_model_is_a_400(client: httpx.Client, hub_root: Path, stream: bool):
    folder = hub_root / "not-a-model"
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{")
    (folder / "notes.txt").write_text("keep me")
    before = sorted(p.name for p in folder.rglob("*"))
    for name in (str(folder), str(folder / "notes.txt"), str(hub_root / "missing"), "/", "~", ".."):
        refused(client, "/api/pull", client.post("/api/pull", json={"model": name, "stream": stream}))
    refused(client, "/api/show", client.post("/api/show", json={"model": str(folder)}))
    answer = client.request("DELETE", "/api/delete", json={"model": str(folder)})
    refused(client, "/api/delete", answer, 403)
    assert sorted(p.name for p in folder.rglob("*")) == before  # nothing was touched


# -- sizes --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "items"),
    [("/v1/chat/completions", "messages"), ("/api/chat", "messages"), ("/v1/responses", "input")],
)
def test_300000_messages_are_refused(client: httpx.Client, path: str, items: str):
    body = {**BASES[path], items: [{"role": "user", "content": ""}] * 300_000}
    message = refused(client, path, client.post(path, json=body))
    assert "at most" in message and "--max-items" in message


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat", "/v1/responses"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_50_megabyte_bodies_are_413(client: httpx.Client, path: str, framing: str):
    size = 50 << 20
    if framing == "content-length":
        raw: Any = b" " * size
    else:

        def chunks() -> Iterator[bytes]:
            for _ in range(size >> 20):
                yield b" " * (1 << 20)

        raw = chunks()
    try:
        answer = client.post(path, content=raw, headers=JSON)
    except httpx.WriteError:
        pytest.skip("the server closed the connection before reading the rest (allowed after a 413)")
    refused(client, path, answer, 413)


# -- shapes and types ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ROUTES_WITH_BODIES)
@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b"1",
        b'"x"',
        b"true",
        b"{",
        b"{}}",
        b"\xff\xfe{}",
        b"\xef\xbb\xbf{}",
        b'{"model": "\xc3\x28"}',
        b"{'model': 1}",
        b'{"model": NaN}',
        b"\x00",
    ],
    ids=repr,
)
def test_bodies_that_are_not_a_json_object_are_400s(client: httpx.Client, path: str, raw: bytes):
    method = "DELETE" if path == "/api/delete" else "POST"
    answer = send(client, path, raw, method)
    check_answer(client, path, answer)
    assert 400 <= answer.status_code < 500, answer.text


@pytest.mark.parametrize("path", ROUTES_WITH_BODIES)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_bodies_that_are_not_json_are_415s(client: httpx.Client, path: str, content_type: str):
    method = "DELETE" if path == "/api/delete" else "POST"
    answer = client.request(method, path, content=b'{"model": "x"}', headers={"content-type": content_type})
    refused(client, path, answer, 415)


WRONG_VALUES = [None, True, -1, 2**64, 1.5, "x", "", [], {}, [[]], {"": {}}]


def _documented_fields(spec: dict[str, Any], path: str) -> list[str]:
    schemas = spec["components"]["schemas"]
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    refs = [ref["$ref"] for ref in body.get("anyOf", [body])]
    return sorted({field for ref in refs for field in schemas[ref.rsplit("/", 1)[1]].get("properties", {})})


@pytest.mark.slow
@pytest.mark.parametrize("path", [*GENERATING, "/tokenize", "/detokenize"])
def test_any_value_in_any_field_answers_cleanly(client: httpx.Client, path: str):
    """Each documented field of the route's body, set to values of every JSON type: no 5xx, the
    route's error shape. (Several are valid for some fields: only the cleanliness is checked.)"""
    spec = client.get("/openapi.json").json()
    fields = _documented_fields(spec, path)
    assert fields
    statuses: set[int] = set()
    for field in fields:
        for value in WRONG_VALUES:
            answer = client.post(path, json={**BASES.get(path, {"model": MODEL_NAME}), field: value})
            assert answer.status_code < 500, (field, value, answer.text[:400])
            if answer.status_code >= 400:
                error_message(path, answer)
            statuses.add(answer.status_code)
    assert 400 in statuses
    assert client.get("/health").status_code == 200


def test_percent_escapes_that_are_not_utf8_in_paths_are_404s(client: httpx.Client):
    for path in (
        "/v1/responses/%ED%A0%80",
        "/v1/responses/%FF%FE",
        "/v1/models/%C0%AF",
        "/v1/responses/%00/input_items",
    ):
        answer = client.get(path)
        check_answer(client, path, answer)
        assert answer.status_code == 404, (path, answer.text)
    answer = client.get(
        "/v1/responses/x/input_items", params={"after": "\udc80".encode("utf-8", "surrogatepass")}
    )
    check_answer(client, "/v1/responses/x/input_items", answer)


def test_api_key_errors_come_in_each_apis_shape(hub_root: Path):
    live = start_app(ScriptedEngine(gpt_oss_script), ServerSettings(api_key="k1,k2"))
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            for path in ("/api/chat", "/api/tags", "/v1/chat/completions", "/v1/models"):
                for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": b"Bearer \xff\xfe"}):
                    method = "GET" if path in ("/api/tags", "/v1/models") else "POST"
                    answer = http.request(method, path, json={}, headers=headers)
                    refused(http, path, answer, 401)
    finally:
        live.stop()


def test_nothing_here_left_a_request_running(client: httpx.Client):
    """Refusals happen before the engine, or release what they started (this runs last)."""
    assert client.get("/health").json()["engine"]["num_running"] == 0
