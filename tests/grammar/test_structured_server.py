"""Structured outputs through the real server at temperature 1.0: every final answer validates
against its hypothesis-generated schema, and every call with `tool_choice: "required"` names an
offered tool with valid arguments, on a random-weight checkpoint and on the embedded model."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import jsonschema
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gossamer import LLM
from gossamer.engine import EngineConfig, build_engine
from gossamer.engine.protocol import SamplingParams, StructuredOutputs
from gossamer.harmony.tokenizer import decode_text
from tests.grammar.schemas import ROOTS
from tests.server.conftest import MODEL_NAME, LiveApp, start_app

FEW = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
N = 3  # sequences per request: one batch of three constrained rows
# Room for the bounded answers above, so that any cut would be a failure, not bad luck.
MAX_TOKENS = 400
# A random model never closes its analysis on its own: a small budget keeps the tests fast.
EXTRA = {"thinking_token_budget": 8}
ITEM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 6},
        "n": {"type": "integer", "minimum": 0, "maximum": 9},
    },
    "required": ["name", "n"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module", params=["random", "embedded"])
def app(request, tiny_checkpoint) -> Iterator[LiveApp]:
    if request.param == "random":
        path = tiny_checkpoint
    else:
        from gossamer.tiny import model_path

        path = model_path()
    live = start_app(build_engine(path, EngineConfig(kv_cache_memory_bytes="64MiB")))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(app: LiveApp) -> openai.OpenAI:
    return openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0)


def _strict(schema: dict) -> bool:
    """OpenAI's strict needs every property required, all the way down."""
    if isinstance(schema, dict):
        if "properties" in schema and set(schema["required"]) != set(schema["properties"]):
            return False
        return all(_strict(v) for v in schema.values() if isinstance(v, dict | list))
    if isinstance(schema, list):
        return all(_strict(v) for v in schema)
    return True


@FEW
@given(schema=ROOTS)
def test_every_final_answer_validates(client: openai.OpenAI, schema: dict) -> None:
    spec = {"name": "answer", "schema": schema, "strict": _strict(schema)}
    fmt = {"type": "json_schema", "json_schema": spec}
    reply = client.chat.completions.create(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": "Describe a thing as JSON."}],
        response_format=fmt,  # type: ignore[arg-type]
        temperature=1.0,
        max_tokens=MAX_TOKENS,
        n=N,
        extra_body=EXTRA,
    )
    assert len(reply.choices) == N
    for choice in reply.choices:
        assert choice.finish_reason == "stop", choice
        jsonschema.validate(json.loads(choice.message.content or ""), schema)


@FEW
@given(schemas=st.lists(ROOTS, min_size=3, max_size=3))
def test_every_required_call_names_an_offered_tool_with_valid_arguments(
    client: openai.OpenAI, schemas: list[dict]
) -> None:
    names = ["get_weather", "get_time", "book_table"]
    tools = [
        {"type": "function", "function": {
            "name": name, "description": f"{name} tool", "parameters": schema, "strict": _strict(schema)}}
        for name, schema in zip(names, schemas, strict=True)
    ]
    reply = client.chat.completions.create(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": "Use a tool."}],
        tools=tools,  # type: ignore[arg-type]
        tool_choice="required",
        temperature=1.0,
        max_tokens=MAX_TOKENS,
        n=N,
        extra_body=EXTRA,
    )
    for choice in reply.choices:
        assert choice.finish_reason == "tool_calls", choice
        (call,) = choice.message.tool_calls or []
        assert call.function.name in names
        jsonschema.validate(json.loads(call.function.arguments), schemas[names.index(call.function.name)])


@pytest.mark.parametrize(
    ("fields", "check"),
    [
        ({"structured_outputs": {"choice": ["yes", "no", "maybe"]}}, lambda t: t in ("yes", "no", "maybe")),
        ({"guided_regex": "[0-9]{3}-[a-z]{2}"}, lambda t: re.fullmatch("[0-9]{3}-[a-z]{2}", t)),
        ({"structured_outputs": {"grammar": 'root ::= "(" [a-c]{1,4} ")"'}},
         lambda t: re.fullmatch(r"\([a-c]{1,4}\)", t)),
        ({"guided_json": ITEM}, lambda t: jsonschema.validate(json.loads(t), ITEM) is None),
    ],
)
def test_raw_completions_follow_vllm_structured_outputs(app: LiveApp, fields: dict, check) -> None:
    body = {"model": MODEL_NAME, "prompt": "Answer:", "max_tokens": 60, "n": N, "temperature": 1.0, **fields}
    reply = httpx.post(f"{app.base_url}/completions", json=body, timeout=120).json()
    for choice in reply["choices"]:
        assert choice["finish_reason"] == "stop", choice
        assert check(choice["text"]), choice


def test_llm_generate_takes_structured_outputs(tiny_checkpoint) -> None:
    llm = LLM(tiny_checkpoint)
    llm.engine_config = EngineConfig(kv_cache_memory_bytes="32MiB")
    params = SamplingParams(max_tokens=40, structured_outputs=StructuredOutputs(json=ITEM), n=2)
    (result,) = llm.generate(["Answer:"], params)
    for completion in result.outputs:
        # It ends on the grammar's end, <|endoftext|>, which LLM.generate keeps in token_ids.
        assert completion.finish_reason == "stop" and completion.stop_token_id == completion.token_ids[-1]
        jsonschema.validate(json.loads(decode_text(completion.token_ids[:-1])), ITEM)
