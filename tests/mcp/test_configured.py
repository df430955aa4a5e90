"""The operator's MCP servers (`gossamer serve --mcp NAME=URL`): their tools offered to every request
on every API and run server-side, Chat Completions and Ollama clients included; headers from the
environment; a server that is down costs nothing and offers nothing."""

from __future__ import annotations

import httpx
import ollama
import openai
import pytest

from gossamer.tools.mcp.registry import McpConfigError, McpRegistry, parse_servers
from tests.mcp.conftest import TOKEN, mcp_app
from tests.mcp.mcp_server import FACT
from tests.server.conftest import free_port

MODEL = "gpt-oss-20b"


@pytest.fixture(scope="module")
def configured(mcp_server):
    """An app serving with `--mcp encyclopedia=URL`, its token from GOSSAMER_MCP_TOKEN_ENCYCLOPEDIA."""
    app = mcp_app(mcp=[f"encyclopedia={mcp_server.url}"], mcp_allow_network=[])  # --mcp needs no allowing
    env = {"GOSSAMER_MCP_TOKEN_ENCYCLOPEDIA": TOKEN}
    app.state.mcp_registry = McpRegistry.from_settings(app.settings, env)
    yield app
    app.stop()


def test_chat_completions_clients_get_answers_from_the_tools(configured, mcp_server):
    with openai.OpenAI(base_url=configured.base_url, api_key="unused", max_retries=0) as client:
        messages = [{"role": "user", "content": "What does slow_lookup know about amber"}]
        whole = client.chat.completions.create(model=MODEL, messages=messages)
        message = whole.choices[0].message
        assert message.content == f"encyclopedia.slow_lookup said: amber: {FACT}"
        assert whole.choices[0].finish_reason == "stop" and not message.tool_calls
        (call,) = message.model_extra["server_tool_calls"]
        assert call["type"] == "encyclopedia.slow_lookup" and call["status"] == "completed"
        assert call["output"] == f"amber: {FACT}"
        chunks = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == message.content
    assert f"Bearer {TOKEN}" in mcp_server.authorizations  # from the environment


def test_the_ollama_client_gets_answers_from_the_tools(configured):
    client = ollama.Client(host=configured.url)
    reply = client.chat(model=MODEL, messages=[{"role": "user", "content": "slow_lookup basalt"}])
    assert reply.message.content == f"encyclopedia.slow_lookup said: basalt: {FACT}"
    parts = client.chat(model=MODEL, messages=[{"role": "user", "content": "explode basalt"}], stream=True)
    streamed = "".join(part.message.content or "" for part in parts)
    assert "explode failed on purpose (basalt)" in streamed  # a tool error, read by the model
    raw = httpx.post(
        configured.url + "/api/chat",
        json={"model": MODEL, "messages": [{"role": "user", "content": "slow_lookup tuff"}], "stream": False},
        timeout=60,
    ).json()
    assert [c["type"] for c in raw["message"]["server_tool_calls"]] == ["encyclopedia.slow_lookup"]


def test_responses_report_their_calls_as_mcp_call_items(configured):
    with openai.OpenAI(base_url=configured.base_url, api_key="unused", max_retries=0) as client:
        response = client.responses.create(model=MODEL, input="slow_lookup obsidian")
    assert [item.type for item in response.output] == ["reasoning", "mcp_call", "reasoning", "message"]
    call = response.output[1]
    assert call.server_label == "encyclopedia" and call.output == f"obsidian: {FACT}"


def test_a_configured_server_that_is_down_offers_nothing():
    app = mcp_app(mcp=[f"gone=http://127.0.0.1:{free_port()}/mcp"])
    try:
        with openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0) as client:
            reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    finally:
        app.stop()
    assert reply.choices[0].message.content == "I have no MCP tools for that."


def test_server_specs_and_headers_from_the_environment():
    env = {
        "GOSSAMER_MCP_HEADERS_MY_DOCS": "X-Team: search\nX-Key: k1",
        "GOSSAMER_MCP_TOKEN_MY_DOCS": "t0k",
    }
    (server,) = parse_servers(["my-docs=https://mcp.example/mcp"], env)
    assert server.label == "my-docs" and server.trusted
    assert server.headers == {"X-Team": "search", "X-Key": "k1", "Authorization": "Bearer t0k"}
    assert "t0k" not in repr(server) and "k1" not in repr(server)
    json_env = {"GOSSAMER_MCP_HEADERS_A": '{"X-Key": "k2"}'}
    assert parse_servers(["a=http://h/mcp"], json_env)[0].headers == {"X-Key": "k2"}
    for specs in (["nourl"], ["a=ftp://h"], ["a=http://h/mcp", "a=http://i/mcp"]):
        with pytest.raises(McpConfigError):
            parse_servers(specs, {})
    with pytest.raises(McpConfigError) as info:
        parse_servers(["a=http://h/mcp"], {"GOSSAMER_MCP_HEADERS_A": "{not json secret123"})
    assert "secret123" not in str(info.value)
