"""Fixtures: the real MCP test server (mcp_server.py) and the real Gossamer app on 127.0.0.1, whose
scripted gpt-oss (gossamer/testing/mcp_script.py) calls the MCP tools a question names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gossamer.server.settings import ServerSettings
from gossamer.testing.mcp_script import mcp_tool_script
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.mcp.mcp_server import McpTestServer
from tests.server.conftest import LiveApp, start_app

LOOPBACK = ["127.0.0.0/8"]  # a request's MCP server may be here (by default only public addresses)
TOKEN = "sk-test-SECRET-TOKEN-0f9e8d"  # sent as a header; must never be stored or logged


def mcp_app(**settings: object) -> LiveApp:
    engine = ScriptedEngine(mcp_tool_script, max_context_length=8192, tokens_per_step=16)
    settings = {"mcp_allow_network": LOOPBACK, **settings}
    return start_app(engine, ServerSettings(**settings))  # type: ignore[arg-type]


@pytest.fixture(scope="package")
def mcp_server() -> Iterator[McpTestServer]:
    server = McpTestServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def app() -> Iterator[LiveApp]:
    running = mcp_app(mcp_timeout_s=10.0)
    yield running
    running.stop()
