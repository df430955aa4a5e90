"""Every MCP item a client saw (tool lists, calls, approval requests and responses, failures) is in
the store when another server process opens the same SQLite file, the chain goes on from them
without listing again, and no header value is anywhere in the file. The first server runs in a
thread, the second as a process of its own (responses_harness.py): one process start, not two."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import openai
import pytest

from tests.mcp.conftest import LOOPBACK, TOKEN, mcp_app
from tests.mcp.mcp_server import FACT
from tests.server.responses_harness import serve

MODEL = "gpt-oss-20b"
ENV = {"GOSSAMER_MCP_ALLOW_NETWORK": ",".join(LOOPBACK)}


@pytest.mark.slow
def test_mcp_items_survive_a_restart(tmp_path, mcp_server):
    store = tmp_path / "responses.sqlite3"
    asking = {
        "type": "mcp",
        "server_label": "encyclopedia",
        "server_url": mcp_server.url,
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "require_approval": {"never": {"tool_names": ["explode"]}},
    }
    running = mcp_app(responses_store=str(store))
    with openai.OpenAI(base_url=running.base_url, api_key="unused", max_retries=0) as client:
        first = client.responses.create(model=MODEL, input="slow_lookup quartz", tools=[asking])
        request = first.output[-1]
        assert request.type == "mcp_approval_request"
        approval = {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
        second = client.responses.create(
            model=MODEL, input=[approval], tools=[asking], previous_response_id=first.id
        )
        third = client.responses.create(
            model=MODEL, input="explode quartz", tools=[asking], previous_response_id=second.id
        )
        seen = {r.id: r.model_dump(mode="json")["output"] for r in (first, second, third)}
    running.stop()
    assert [item.type for item in third.output][:2] == ["reasoning", "mcp_call"]
    assert third.output[1].status == "failed"

    with serve(store, engine="mcp", env=ENV) as running:
        client = openai.OpenAI(base_url=running.base_url, api_key="unused", max_retries=0)
        for response_id, output in seen.items():
            assert client.responses.retrieve(response_id).model_dump(mode="json")["output"] == output
        (item,) = client.responses.input_items.list(second.id).data
        assert item.type == "mcp_approval_response" and item.approval_request_id == request.id
        fourth = client.responses.create(
            model=MODEL, input="slow_lookup mica", tools=[asking | {"require_approval": "never"}],
            previous_response_id=third.id,
        )
        client.close()
    assert [item.type for item in fourth.output] == ["reasoning", "mcp_call", "reasoning", "message"]
    assert fourth.output[1].output == f"mica: {FACT}"
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA wal_checkpoint(FULL)")
    for path in Path(tmp_path).glob("responses.sqlite3*"):
        assert TOKEN.encode() not in path.read_bytes(), path
