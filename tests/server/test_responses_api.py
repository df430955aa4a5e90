"""The Responses API over a real server process, driven by the official openai SDK.

The server runs the full app on a scripted engine that writes harmony like gpt-oss in a tool
loop (see responses_harness.py), so rendering, decoding, events and the store all run for real.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseItem, ResponseStreamEvent

from tests.server.responses_harness import serve
from tests.spec_validation import validate

MODEL = "openai/gpt-oss-20b"  # the Agents SDK's spelling; the server serves gpt-oss-20b
EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)
ITEMS = pydantic.TypeAdapter(ResponseItem)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("store") / "responses.sqlite3") as running:
        yield running


def _validate_strictly(response: httpx.Response) -> None:
    """Every JSON body the server returns must parse as the SDK's typed model, not just construct."""
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if response.status_code != 200 or not is_json:
        return
    response.read()
    body = response.json()
    if body.get("object") == "response":
        Response.model_validate(body)
    elif body.get("object") == "list":
        for item in body["data"]:
            ITEMS.validate_python(item)


@pytest.fixture
def client(server):
    http = httpx.Client(event_hooks={"response": [_validate_strictly]}, timeout=60)
    with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, http_client=http) as client:
        yield client  # closing the SDK client closes `http` and its sockets


def strict_response(data: dict) -> Response:
    """Validate as the SDK's pydantic model (construct() in the SDK would accept anything)."""
    return Response.model_validate(data)


def test_tool_call_then_answer_through_previous_response_id(client):
    first = client.responses.create(model=MODEL, input="What is the weather in Paris?", tools=[WEATHER])
    strict_response(first.model_dump())
    assert first.status == "completed" and first.object == "response"
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    reasoning, call = first.output
    assert reasoning.content[0].type == "reasoning_text" and "get_weather" in reasoning.content[0].text
    assert call.name == "get_weather" and call.call_id.startswith("call_") and call.status == "completed"
    assert call.arguments == '{"city": "Paris"}'
    assert first.usage.input_tokens > 50 and first.usage.output_tokens > 10
    assert 0 < first.usage.output_tokens_details.reasoning_tokens < first.usage.output_tokens
    assert first.usage.input_tokens_details.cached_tokens == 0

    second = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}],
        tools=[WEATHER],
    )
    assert second.previous_response_id == first.id
    assert second.usage.input_tokens_details.cached_tokens > 0  # the chain's prefix was cached
    assert second.output[-1].type == "message"
    # The model saw the whole chain: the first user message and the tool's result.
    assert second.output_text == "Results: get_weather=sunny, 21C. Users said: What is the weather in Paris?"

    third = client.responses.create(
        model=MODEL, previous_response_id=second.id, input="And tomorrow?", tools=[WEATHER]
    )
    assert third.output[-1].type == "function_call"  # a new user turn starts a new tool round


def test_stream_events_match_the_final_object(client):
    stream = client.responses.create(model=MODEL, input="Weather?", tools=[WEATHER], stream=True)
    events = list(stream)
    raw = [event.model_dump(exclude_unset=True) for event in events]
    for event in raw:
        EVENTS.validate_python(event)
    assert [event.sequence_number for event in events] == list(range(len(events)))
    types = [event.type for event in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert sum(t in ("response.completed", "response.incomplete", "response.failed") for t in types) == 1
    assert types[-1] == "response.completed"
    assert "response.reasoning_text.delta" in types and "response.function_call_arguments.delta" in types
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert arguments == '{"city": "Paris"}'
    final = events[-1].response
    # The stored (and non-streamed) object is the one the terminal event carried.
    assert client.responses.retrieve(final.id).model_dump() == final.model_dump()
    done_items = [e.item for e in events if e.type == "response.output_item.done"]
    assert [item.model_dump() for item in done_items] == [item.model_dump() for item in final.output]


def test_sdk_stream_helper_accumulates_the_response(client):
    with client.responses.stream(model=MODEL, input="hi") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text == "Results: no tools. Users said: hi"


def test_retrieve_delete_and_input_items(client):
    created = client.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": [{"type": "input_text", "text": "one"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "deux"}]},
            {"role": "user", "content": "three"},
        ],
        metadata={"purpose": "test"},
    )
    fetched = client.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    assert fetched.metadata == {"purpose": "test"} and fetched.instructions == "Be brief."

    page = client.responses.input_items.list(created.id, order="asc")
    for item in page.data:
        ITEMS.validate_python(item.model_dump())
    assert [item.role for item in page.data] == ["developer", "user", "assistant", "user"]
    assert page.data[1].content[0].text == "one"
    first_page = client.responses.input_items.list(created.id, limit=2)  # newest first by default
    assert [item.role for item in first_page.data] == ["user", "assistant"] and first_page.has_more
    everything = list(client.responses.input_items.list(created.id, limit=1, order="asc"))  # auto-paging
    assert [item.id for item in everything] == [item.id for item in page.data]

    deleted = client.responses.delete(created.id)
    assert deleted is None  # the SDK returns nothing for a successful delete
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def test_item_reference_replays_a_stored_item(client):
    first = client.responses.create(model=MODEL, input="Weather?", tools=[WEATHER])
    call = first.output[-1]
    user_item = client.responses.input_items.list(first.id).data[0]
    second = client.responses.create(
        model=MODEL,
        input=[
            {"type": "item_reference", "id": user_item.id},
            {"type": "item_reference", "id": first.output[0].id},
            {"type": "item_reference", "id": call.id},
            {"type": "function_call_output", "call_id": call.call_id, "output": "cloudy"},
        ],
        tools=[WEATHER],
    )
    assert second.output_text == "Results: get_weather=cloudy. Users said: Weather?"


def test_store_false_is_not_kept(client):
    response = client.responses.create(model=MODEL, input="hi", store=False)
    assert response.status == "completed" and response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_max_output_tokens_gives_incomplete(client):
    response = client.responses.create(model=MODEL, input="hi", max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == 16
    events = list(client.responses.create(model=MODEL, input="hi", max_output_tokens=16, stream=True))
    assert events[-1].type == "response.incomplete"
    assert [e.type for e in events].count("response.completed") == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [
        (
            {"previous_response_id": "resp_unknown", "input": "x"},
            openai.NotFoundError,
            "previous_response_id",
        ),
        ({"input": [{"type": "computer_call", "id": "cc_1"}]}, openai.BadRequestError, "input[0].type"),
        (
            {"input": [{"type": "function_call_output", "call_id": "call_nowhere", "output": "1"}]},
            openai.BadRequestError,
            "input",
        ),
        ({"input": [{"type": "item_reference", "id": "msg_nowhere"}]}, openai.NotFoundError, "input[0].id"),
        ({"input": "x", "tools": [{"type": "web_search"}]}, openai.BadRequestError, "tools[0].type"),
        ({"input": "x", "include": ["nonsense.value"]}, openai.BadRequestError, "include[0]"),
        ({"input": "x", "background": True, "store": False}, openai.BadRequestError, "background"),
        ({"input": "x", "temperature": 5}, openai.BadRequestError, "temperature"),
        ({"input": "x", "conversation": "conv_1"}, openai.NotFoundError, "conversation"),
        (
            {"input": "x", "conversation": "c", "previous_response_id": "r"},
            openai.BadRequestError,
            "conversation",
        ),
        ({"input": "x", "metadata": {f"k{i}": "v" for i in range(17)}}, openai.BadRequestError, "metadata"),
        (
            {"input": "x", "tool_choice": {"type": "function", "name": "nope"}},
            openai.BadRequestError,
            "tool_choice",
        ),
    ],
)
def test_bad_requests_get_openai_errors(client, kwargs, error, param):
    with pytest.raises(error) as info:
        client.responses.create(model=MODEL, **kwargs)
    body = info.value.body
    assert body["param"] == param and body["message"] and body["type"] == "invalid_request_error"


def test_named_tool_choice_forces_the_call(client):
    first = client.responses.create(model=MODEL, input="Weather?", tools=[WEATHER])
    call = first.output[-1]
    forced = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
    )
    # The model had its answer, but the prefilled call header leaves it only the arguments to write.
    assert [item.type for item in forced.output] == ["function_call"]
    assert forced.output[0].name == "get_weather" and forced.output[0].arguments == '{"city": "Paris"}'
    assert forced.tool_choice.name == "get_weather"
    required = client.responses.create(model=MODEL, input="hi", tools=[WEATHER], tool_choice="required")
    assert required.output[-1].type == "function_call"


def test_logprobs_of_the_answer_tokens(client):
    response = client.responses.create(
        model=MODEL, input="hi", include=["message.output_text.logprobs"], top_logprobs=2
    )
    part = response.output[-1].content[0]
    assert response.top_logprobs == 2
    assert "".join(entry.token for entry in part.logprobs) == part.text  # one entry per answer token
    assert all(len(entry.top_logprobs) == 2 for entry in part.logprobs)
    events = list(client.responses.create(model=MODEL, input="hi", top_logprobs=0, stream=True))
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert all(len(e.logprobs) == 1 and e.logprobs[0].token == e.delta for e in deltas)
    plain = client.responses.create(model=MODEL, input="hi")
    assert plain.output[-1].content[0].logprobs == []


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="gpt-5", input="x")
    assert info.value.body["code"] == "model_not_found"


def test_known_includes_and_sdk_extras_are_accepted(client):
    response = client.responses.create(
        model=MODEL,
        input="hi",
        include=["reasoning.encrypted_content", "message.output_text.logprobs"],
        reasoning={"effort": "low"},
        text={  # strict, so the schema follows OpenAI's strict rules (closed objects)
            "format": {"type": "json_schema", "name": "answer", "strict": True,
                       "schema": {"type": "object", "properties": {}, "additionalProperties": False}}
        },
        truncation="auto",
        parallel_tool_calls=False,
        temperature=0.5,
        top_p=0.9,
        extra_body={"prompt_cache_key": "k"},
    )
    assert response.reasoning.effort == "low" and response.text.format.type == "json_schema"
    assert response.parallel_tool_calls is False and response.temperature == 0.5 and response.top_p == 0.9


def test_background_polling_and_cancel(client):
    queued = client.responses.create(model=MODEL, input="hi", background=True)
    assert queued.background is True and queued.status in ("queued", "in_progress", "completed")
    deadline = time.monotonic() + 30
    while (polled := client.responses.retrieve(queued.id)).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert polled.status == "completed" and polled.output_text == "Results: no tools. Users said: hi"

    slow = client.responses.create(model=MODEL, input="Think SLOWLY about this.", background=True)
    # A running background response can be followed from any point of its event stream.
    with client.responses.retrieve(slow.id, stream=True, starting_after=2) as followed:
        numbers = [event.sequence_number for _, event in zip(range(5), followed, strict=False)]
    assert numbers == [3, 4, 5, 6, 7]
    cancelled = client.responses.cancel(slow.id)
    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(slow.id).status == "cancelled"
    assert client.responses.cancel(slow.id).status == "cancelled"  # twice is harmless

    foreground = client.responses.create(model=MODEL, input="hi")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(foreground.id)


def test_background_stream_can_be_resumed(client):
    stream = client.responses.create(
        model=MODEL, input="Weather?", tools=[WEATHER], background=True, stream=True
    )
    events = list(stream)
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert client.responses.retrieve(events[-1].response.id).status == "completed"


async def test_concurrent_requests_are_all_stored(server):
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    responses = await asyncio.gather(
        *(client.responses.create(model=MODEL, input=f"question {i}", tools=[WEATHER]) for i in range(8))
    )
    follow_ups = await asyncio.gather(
        *(
            client.responses.create(
                model=MODEL,
                previous_response_id=r.id,
                input=[{"type": "function_call_output", "call_id": r.output[-1].call_id, "output": str(i)}],
                tools=[WEATHER],
            )
            for i, r in enumerate(responses)
        )
    )
    for i, response in enumerate(follow_ups):
        assert response.output_text == f"Results: get_weather={i}. Users said: question {i}"
    await client.close()


def test_restart_between_turns_loses_nothing(tmp_path):
    store = tmp_path / "responses.sqlite3"
    with (
        serve(store) as first_server,
        openai.OpenAI(base_url=first_server.base_url, api_key="unused", max_retries=0) as client,
    ):
        first = client.responses.create(model=MODEL, input="Weather in Paris?", tools=[WEATHER])
        call = first.output[-1]
    with (
        serve(store) as second_server,
        openai.OpenAI(base_url=second_server.base_url, api_key="unused", max_retries=0) as client,
    ):
        assert client.responses.retrieve(first.id).model_dump() == first.model_dump()
        second = client.responses.create(
            model=MODEL,
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "rain"}],
            tools=[WEATHER],
        )
        assert second.output_text == "Results: get_weather=rain. Users said: Weather in Paris?"


def test_truncation_auto_drops_oldest_turns_and_disabled_refuses(tmp_path):
    with (
        serve(tmp_path / "r.sqlite3", context_tokens=400) as small,
        openai.OpenAI(base_url=small.base_url, api_key="unused", max_retries=0) as client,
    ):
        previous = None
        for turn in range(8):
            response = client.responses.create(
                model=MODEL,
                input=f"turn {turn} " + "word " * 20,
                previous_response_id=previous,
                truncation="auto",
            )
            previous = response.id
        assert response.status in ("completed", "incomplete")
        said = response.output_text.split("Users said: ")[1] if response.output_text else ""
        assert "turn 0" not in said  # the oldest turns were dropped to fit
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model=MODEL, input="one more", previous_response_id=previous)
        assert info.value.body["code"] == "context_length_exceeded"


def test_wire_format_matches_the_openapi_spec(server):
    """Raw JSON (not the SDK's lenient parse) against the newest spec: objects, events, lists, errors."""
    base = server.base_url
    request = {"model": MODEL, "input": "Weather?", "tools": [WEATHER], "stream": True, "top_logprobs": 1}
    events = []
    with httpx.stream("POST", f"{base}/responses", json=request, timeout=60) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        for line in streamed.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    for event in events:
        validate(event, "ResponseStreamEvent")
    final = events[-1]["response"]
    validate(final, "Response")
    call = final["output"][-1]
    answer = httpx.post(
        f"{base}/responses",
        json={
            "model": MODEL,
            "previous_response_id": final["id"],
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "fine"}],
            "max_output_tokens": 20,
            "top_logprobs": 2,
        },
        timeout=60,
    ).json()
    validate(answer, "Response")
    assert answer["status"] == "incomplete"
    assert answer["output"][-1]["content"][0]["logprobs"]  # the cut-off answer has its logprobs
    events = []
    with httpx.stream("POST", f"{base}/responses", json={**request, "max_output_tokens": 8}, timeout=60) as s:
        events = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: ")]
    for event in events:
        validate(event, "ResponseStreamEvent")
    assert events[-1]["type"] == "response.incomplete"
    validate(httpx.get(f"{base}/responses/{answer['id']}", timeout=10).json(), "Response")
    validate(httpx.get(f"{base}/responses/{final['id']}/input_items", timeout=10).json(), "ResponseItemList")
    deleted = httpx.delete(f"{base}/responses/{answer['id']}", timeout=10).json()
    assert deleted == {"id": answer["id"], "object": "response.deleted", "deleted": True}
    error = httpx.post(
        f"{base}/responses", json={"model": MODEL, "previous_response_id": "resp_x"}, timeout=10
    )
    assert error.status_code == 404
    validate(error.json(), "ErrorResponse")


def test_client_leaving_a_stream_aborts_the_generation(server):
    """A client that hangs up mid-stream frees the engine at once; nothing keeps generating."""
    health = f"{server.base_url.removesuffix('/v1')}/health"
    aborted_before = httpx.get(health, timeout=10).json()["engine"]["num_aborted"]
    request = {"model": MODEL, "input": "Think SLOWLY about this.", "stream": True}
    with httpx.stream("POST", f"{server.base_url}/responses", json=request, timeout=30) as streamed:
        for number, _ in enumerate(streamed.iter_lines()):
            if number > 20:
                break
    deadline = time.monotonic() + 10
    while httpx.get(health, timeout=10).json()["engine"]["num_aborted"] == aborted_before:
        assert time.monotonic() < deadline, "the engine request was not aborted"
        time.sleep(0.05)
    assert httpx.get(health, timeout=10).json()["engine"]["num_running"] == 0
