"""Responses with `mcp` tools on the real app and a real MCP server (both on 127.0.0.1): the tools are
listed, called and used within one response, streamed and not, every event and item valid against
OpenAI's OpenAPI description; approvals pause and resume; failures are tool errors the model reads
while the response completes; header values are never shown, stored or logged."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import httpx
import openai
import pytest

from tests.mcp.conftest import TOKEN, mcp_app
from tests.mcp.mcp_server import FACT
from tests.server.conftest import free_port
from tests.spec_validation import validate

MODEL = "gpt-oss-20b"


def mcp_tool(url: str, **fields) -> dict:
    tool = {"type": "mcp", "server_label": "encyclopedia", "server_url": url, "require_approval": "never"}
    return {**tool, **fields}


@pytest.fixture
def client(app):
    with openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0) as c:
        yield c


def _raw(app, body: dict) -> dict:
    response = httpx.post(f"{app.base_url}/responses", json={"model": MODEL, **body}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _stream(app, body: dict) -> list[dict]:
    events = []
    with httpx.stream("POST", f"{app.base_url}/responses", json={"model": MODEL, "stream": True, **body},
                      timeout=60) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    return events


def test_a_response_lists_calls_and_uses_a_tool(app, mcp_server):
    body = {"input": "What does slow_lookup say about gossamer", "tools": [mcp_tool(mcp_server.url)]}
    response = _raw(app, body)
    validate(response, "Response")
    assert response["status"] == "completed"
    types = [item["type"] for item in response["output"]]
    assert types == ["mcp_list_tools", "reasoning", "mcp_call", "reasoning", "message"]
    listed, call = response["output"][0], response["output"][2]
    assert [t["name"] for t in listed["tools"]] == ["slow_lookup", "explode"] and listed["error"] is None
    assert listed["tools"][0]["input_schema"]["required"] == ["topic"]
    assert call["server_label"] == "encyclopedia" and call["name"] == "slow_lookup"
    assert json.loads(call["arguments"]) == {"topic": "gossamer"}
    assert call["status"] == "completed" and call["output"] == f"gossamer: {FACT}" and call["error"] is None
    answer = response["output"][-1]["content"][0]["text"]
    assert answer == f"encyclopedia.slow_lookup said: gossamer: {FACT}"  # the model read the result
    assert _raw_get(app, response["id"]) == response  # stored as returned


def _raw_get(app, response_id: str) -> dict:
    return httpx.get(f"{app.base_url}/responses/{response_id}", timeout=10).json()


def test_streamed_events_are_valid_and_in_openai_order(app, mcp_server):
    events = _stream(app, {"input": "slow_lookup silk", "tools": [mcp_tool(mcp_server.url)]})
    for event in events:
        validate(event, "ResponseStreamEvent")
    types = [e["type"] for e in events]
    mcp_events = [t for t in types if "mcp" in t or t.startswith("response.output_item")]
    assert mcp_events[:10] == [
        "response.output_item.added",  # mcp_list_tools
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done",
        "response.output_item.added",  # reasoning
        "response.output_item.done",
        "response.output_item.added",  # mcp_call
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
    ]
    assert mcp_events[10:12] == ["response.mcp_call.completed", "response.output_item.done"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["output"][2]["output"] == f"silk: {FACT}"
    assert _raw_get(app, final["id"]) == final


def test_the_sdk_client_reads_the_items(client, mcp_server):
    tool = mcp_tool(mcp_server.sse_url)  # an older server: HTTP+SSE
    with client.responses.stream(model=MODEL, input="slow_lookup cotton", tools=[tool]) as stream:
        response = stream.get_final_response()
    list_item, call = response.output[0], response.output[2]
    assert list_item.type == "mcp_list_tools" and call.type == "mcp_call"
    assert call.output == f"cotton: {FACT}"


def test_a_chain_reuses_the_tool_list_and_keeps_the_calls(client, mcp_server):
    tools = [mcp_tool(mcp_server.url)]
    first = client.responses.create(model=MODEL, input="slow_lookup wool", tools=tools)
    second = client.responses.create(
        model=MODEL, input="slow_lookup linen", tools=tools, previous_response_id=first.id
    )
    assert [item.type for item in second.output] == ["reasoning", "mcp_call", "reasoning", "message"]
    assert second.output[1].output == f"linen: {FACT}"


def test_a_conversation_keeps_the_tool_list_too(client, mcp_server):
    conversation = client.conversations.create()
    on = {"tools": [mcp_tool(mcp_server.url)], "conversation": conversation.id}
    first = client.responses.create(model=MODEL, input="slow_lookup silk", **on)
    second = client.responses.create(model=MODEL, input="slow_lookup wool", **on)
    assert first.output[0].type == "mcp_list_tools"
    assert [item.type for item in second.output] == ["reasoning", "mcp_call", "reasoning", "message"]
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [item.type for item in items].count("mcp_call") == 2


def test_allowed_tools_limit_what_is_offered(client, mcp_server):
    tools = [mcp_tool(mcp_server.url, allowed_tools=["explode"])]
    response = client.responses.create(model=MODEL, input="slow_lookup hemp", tools=tools)
    (call,) = [item for item in response.output if item.type == "mcp_call"]
    assert call.name == "explode"  # slow_lookup was never offered, so the model called what it had


def _follow(client, previous, items: list[dict], tools: list[dict]):
    return client.responses.create(model=MODEL, input=items, tools=tools, previous_response_id=previous.id)


def test_approval_pauses_then_an_approval_runs_the_call(client, mcp_server):
    tools = [mcp_tool(mcp_server.url, require_approval="always")]
    calls_before = len(mcp_server.calls)
    first = client.responses.create(model=MODEL, input="slow_lookup jute", tools=tools)
    assert first.status == "completed"
    assert [item.type for item in first.output] == ["mcp_list_tools", "reasoning", "mcp_approval_request"]
    request = first.output[-1]
    assert request.name == "slow_lookup" and json.loads(request.arguments) == {"topic": "jute"}
    assert len(mcp_server.calls) == calls_before  # nothing ran
    approval = {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
    second = _follow(client, first, [approval], tools)
    assert [item.type for item in second.output] == ["mcp_call", "reasoning", "message"]
    call = second.output[0]
    assert call.approval_request_id == request.id and call.output == f"jute: {FACT}"
    assert second.output[-1].content[0].text == f"encyclopedia.slow_lookup said: jute: {FACT}"
    # The approval is an input item of the second response, in OpenAI's shape.
    (item,) = client.responses.input_items.list(second.id).data
    raw = item.model_dump(exclude_none=True)
    assert raw["type"] == "mcp_approval_response" and raw["approve"] is True
    # The spec requires a `request_id` that is none of the schema's properties (nor the SDK's types):
    # everything else is checked.
    validate({**raw, "request_id": raw["approval_request_id"]}, "MCPApprovalResponseResource")
    # Sent again, an approval does not run the call twice.
    third = _follow(client, second, [approval], tools)
    assert [item.type for item in third.output] == ["reasoning", "message"]
    assert len(mcp_server.calls) == calls_before + 1


def test_a_declined_call_does_not_run_and_the_model_is_told(client, mcp_server):
    tools = [mcp_tool(mcp_server.url, require_approval="always")]
    calls_before = len(mcp_server.calls)
    first = client.responses.create(model=MODEL, input="slow_lookup flax", tools=tools)
    decline = {
        "type": "mcp_approval_response",
        "approval_request_id": first.output[-1].id,
        "approve": False,
        "reason": "not today",
    }
    second = _follow(client, first, [decline], tools)
    assert [item.type for item in second.output] == ["reasoning", "message"]
    answer = second.output[-1].content[0].text
    assert "declined this call" in answer and "not today" in answer
    assert len(mcp_server.calls) == calls_before


def test_per_tool_approval(client, mcp_server):
    never_for_lookup = {"never": {"tool_names": ["slow_lookup"]}}
    tools = [mcp_tool(mcp_server.url, require_approval=never_for_lookup)]
    response = client.responses.create(model=MODEL, input="slow_lookup then explode: ramie", tools=tools)
    types = [item.type for item in response.output]
    assert types == ["mcp_list_tools", "reasoning", "mcp_call", "reasoning", "mcp_approval_request"]
    assert response.output[2].name == "slow_lookup" and response.output[-1].name == "explode"


def test_a_tool_error_is_an_answer(app, client, mcp_server):
    response = client.responses.create(model=MODEL, input="explode now", tools=[mcp_tool(mcp_server.url)])
    assert response.status == "completed"
    (call,) = [item for item in response.output if item.type == "mcp_call"]
    assert call.status == "failed" and call.error.type == "mcp_tool_execution_error"
    assert "explode failed on purpose (now)" in call.output
    assert "explode failed on purpose" in response.output[-1].content[0].text  # the model read it
    validate(_raw_get(app, response.id), "Response")


def test_an_unreachable_server_is_an_answer(client, mcp_server):
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    response = client.responses.create(model=MODEL, input="slow_lookup wool", tools=[mcp_tool(dead)])
    assert response.status == "completed"
    listing = response.output[0]
    assert listing.type == "mcp_list_tools" and listing.tools == [] and "cannot be reached" in listing.error
    # Listed earlier in the conversation, then gone: the call is a tool error the model reads.
    first = client.responses.create(model=MODEL, input="slow_lookup wool", tools=[mcp_tool(mcp_server.url)])
    second = client.responses.create(
        model=MODEL, input="slow_lookup silk", tools=[mcp_tool(dead)], previous_response_id=first.id
    )
    (call,) = [item for item in second.output if item.type == "mcp_call"]
    assert second.status == "completed" and call.status == "failed"
    assert call.error.type == "mcp_protocol_error" and "cannot be reached" in call.output
    assert "cannot be reached" in second.output[-1].content[0].text


def test_a_slow_tool_times_out_and_the_response_completes(mcp_server):
    fast = mcp_app(mcp_timeout_s=1.0)
    # The tool list comes with the input (a client replaying it), so only the call meets the limit.
    schema = {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}
    listed = {
        "type": "mcp_list_tools",
        "id": "mcpl_replayed",
        "server_label": "encyclopedia",
        "tools": [{"name": "slow_lookup", "input_schema": schema}],
    }
    mcp_server.delay_s = 3.0
    try:
        with openai.OpenAI(base_url=fast.base_url, api_key="unused", max_retries=0) as client:
            items = [listed, {"role": "user", "content": "slow_lookup moss"}]
            response = client.responses.create(model=MODEL, input=items, tools=[mcp_tool(mcp_server.url)])
    finally:
        mcp_server.delay_s = 0.05
        fast.stop()
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["reasoning", "mcp_call", "reasoning", "message"]
    call = response.output[1]
    assert call.status == "failed" and call.error.code == -32001
    assert "did not run slow_lookup within 1 s" in call.output
    assert "did not run slow_lookup within 1 s" in response.output[-1].content[0].text


def test_a_private_address_is_refused_unless_allowed(mcp_server):
    strict = mcp_app(mcp_allow_network=[])
    try:
        response = _raw(strict, {"input": "slow_lookup x", "tools": [mcp_tool(mcp_server.url)]})
    finally:
        strict.stop()
    assert "--mcp-allow-network" in response["output"][0]["error"]
    assert not any(item["type"] == "mcp_call" for item in response["output"])


def test_headers_reach_the_server_and_nothing_else(app, mcp_server, caplog):
    caplog.set_level(logging.DEBUG)
    tool = mcp_tool(mcp_server.url, headers={"Authorization": f"Bearer {TOKEN}"})
    response = _raw(app, {"input": "slow_lookup velvet", "tools": [tool]})
    assert f"Bearer {TOKEN}" in mcp_server.authorizations
    assert response["tools"][0].get("headers") is None and TOKEN not in json.dumps(response)
    assert TOKEN not in caplog.text
    store = Path(app.settings.responses_store)
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA wal_checkpoint(FULL)")
    for path in store.parent.glob(store.name + "*"):
        assert TOKEN.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "mcp", "server_label": "x"}, "tools[0].server_url"),
        ({"type": "mcp", "server_label": "x", "server_url": "ftp://a/b"}, "tools[0].server_url"),
        ({"type": "mcp", "server_label": "x", "connector_id": "connector_gmail"}, "tools[0].connector_id"),
        ({"type": "mcp", "server_url": "http://127.0.0.1:1/mcp"}, "tools[0].server_label"),
        ({"type": "mcp", "server_label": "x", "server_url": "http://a/", "require_approval": "maybe"},
         "tools[0].require_approval"),
    ],
)
def test_malformed_mcp_tools_are_refused(app, tool, param):
    response = httpx.post(f"{app.base_url}/responses", json={"model": MODEL, "input": "hi", "tools": [tool]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
