"""The MCP client on its own: both transports, failures as OpenAI's MCPToolCallError (a server that
answers garbage, an HTTP error, a private address behind a name), results the model can read."""

from __future__ import annotations

import ipaddress
import json

import httpcore2
import pytest
from mcp_types import CallToolResult, ImageContent, TextContent

from gossamer.tools.mcp.client import McpClient, McpFailure, result_text
from gossamer.tools.mcp.config import McpLimits, McpServer
from gossamer.tools.mcp.network import CheckedBackend
from gossamer.tools.mcp.tool import without_titles
from tests.mcp.mcp_server import FACT

LOOPBACK = CheckedBackend([ipaddress.ip_network("127.0.0.0/8")])


def _client(timeout_s: float = 5.0) -> McpClient:
    return McpClient(McpLimits(timeout_s=timeout_s), LOOPBACK)


@pytest.mark.parametrize("transport", ["url", "sse_url"])
async def test_list_and_call_over_both_transports(mcp_server, transport):
    server = McpServer("test", getattr(mcp_server, transport))
    tools = await _client().list_tools(server)
    assert [t.name for t in tools] == ["slow_lookup", "explode"]
    assert tools[0].description == "Look a topic up in the test encyclopedia (slowly)."
    result = await _client().call_tool(server, "slow_lookup", {"topic": "ash"})
    assert result.output == f"ash: {FACT}"


async def test_a_server_that_answers_garbage_is_a_protocol_error(mcp_server):
    async def garbage(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"jsonrpc": "2.0", "id": 1, "result": 17}'})

    base = mcp_server.serve("garbage", garbage)
    with pytest.raises(McpFailure) as info:
        await _client(timeout_s=3).list_tools(McpServer("junk", base + "/mcp"))
    assert info.value.error["type"] == "mcp_protocol_error"
    assert "junk" in info.value.message


async def test_an_http_error_is_an_http_error(mcp_server):
    async def forbidden(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})

    base = mcp_server.serve("forbidden", forbidden)
    with pytest.raises(McpFailure) as info:
        await _client().list_tools(McpServer("locked", base + "/mcp"))
    assert info.value.error == {
        "type": "http_error",
        "code": 401,
        "message": "The MCP server locked answered HTTP 401 when asked to list its tools.",
    }


class LoopbackOnlyBackend(httpcore2.AnyIOBackend):
    """Records every connection asked for and refuses all but loopback ones: whatever the guard
    under test decides, no packet leaves this machine."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[str] = []

    async def connect_tcp(self, host, port, **kwargs):
        self.attempts.append(host)
        if not ipaddress.ip_address(host).is_loopback:
            raise httpcore2.ConnectError(f"the test backend refuses {host}: not loopback")
        return await super().connect_tcp(host, port, **kwargs)


async def test_a_name_that_resolves_to_a_private_address_is_never_connected_to():
    resolved = []

    async def resolver(host, port):
        resolved.append(host)
        return ["10.1.2.3"]

    network = LoopbackOnlyBackend()
    client = McpClient(McpLimits(timeout_s=2), CheckedBackend([], resolver, inner=network))
    with pytest.raises(McpFailure) as info:
        await client.list_tools(McpServer("intranet", "http://tools.internal.example/mcp"))
    assert resolved == ["tools.internal.example"] and "10.1.2.3" in info.value.message
    assert "--mcp-allow-network" in info.value.message
    assert network.attempts == []


def test_results_the_model_reads():
    image = ImageContent(type="image", data="aGVsbG8=", mime_type="image/png")
    result = CallToolResult(content=[TextContent(type="text", text="a chart:"), image])
    assert result_text(result, 1000) == "a chart:\n[image: image/png, 5 bytes]"
    structured = CallToolResult(content=[], structured_content={"temperature": 18})
    assert json.loads(result_text(structured, 1000)) == {"temperature": 18}
    long = CallToolResult(content=[TextContent(type="text", text="é" * 100)])
    cut = result_text(long, 15)
    assert cut.startswith("é" * 7 + "\n[The output was cut at 15 bytes of 200.]")


def test_schemas_are_offered_without_titles():
    schema = {
        "title": "lookupArguments",
        "type": "object",
        "properties": {
            "topic": {"title": "Topic", "type": "string"},
            "title": {"title": "Title", "type": "string", "enum": [{"title": "kept"}]},
        },
        "$defs": {"Unit": {"title": "Unit", "type": "string"}},
    }
    assert without_titles(schema) == {
        "type": "object",
        "properties": {"topic": {"type": "string"}, "title": {"type": "string", "enum": [{"title": "kept"}]}},
        "$defs": {"Unit": {"type": "string"}},
    }
