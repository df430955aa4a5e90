"""The OpenAI Agents SDK's `HostedMCPTool`, unchanged, against the real app and a real MCP server:
without approvals, with an approval callback, and with the approval as a run interruption that the
caller approves or rejects before running again."""

from __future__ import annotations

import openai
import pytest
from agents import Agent, HostedMCPTool, OpenAIResponsesModel, Runner, set_tracing_disabled

from tests.mcp.mcp_server import FACT

set_tracing_disabled(True)


@pytest.fixture
def model(app):
    client = openai.AsyncOpenAI(base_url=app.base_url, api_key="unused", max_retries=0)
    return OpenAIResponsesModel(model="gpt-oss-20b", openai_client=client)


def _agent(model, mcp_server, **tool) -> Agent:
    config = {"type": "mcp", "server_label": "encyclopedia", "server_url": mcp_server.url}
    hosted = HostedMCPTool(tool_config={**config, **tool.pop("config", {})}, **tool)
    return Agent(name="assistant", instructions="Use the tools.", tools=[hosted], model=model)


async def test_hosted_mcp_tool_without_approvals(model, mcp_server):
    agent = _agent(model, mcp_server, config={"require_approval": "never"})
    result = await Runner.run(agent, "What does slow_lookup say about lichen")
    assert result.final_output == f"encyclopedia.slow_lookup said: lichen: {FACT}"
    kinds = [item.type for item in result.new_items]
    assert "mcp_list_tools_item" in kinds and "tool_call_item" in kinds


async def test_hosted_mcp_tool_with_an_approval_callback(model, mcp_server):
    asked = []

    def approve(request):
        asked.append(request.data.name)
        return {"approve": True}

    agent = _agent(model, mcp_server, config={"require_approval": "always"}, on_approval_request=approve)
    result = await Runner.run(agent, "slow_lookup peat")
    assert asked == ["slow_lookup"]
    assert result.final_output == f"encyclopedia.slow_lookup said: peat: {FACT}"


@pytest.mark.parametrize("approve", [True, False])
async def test_hosted_mcp_tool_approval_as_an_interruption(model, mcp_server, approve):
    agent = _agent(model, mcp_server, config={"require_approval": "always"})
    calls_before = len(mcp_server.calls)
    first = await Runner.run(agent, "slow_lookup fern")
    (interruption,) = first.interruptions
    assert len(mcp_server.calls) == calls_before
    state = first.to_state()
    if approve:
        state.approve(interruption)
    else:
        state.reject(interruption)
    result = await Runner.run(agent, state)
    if approve:
        assert result.final_output == f"encyclopedia.slow_lookup said: fern: {FACT}"
        assert len(mcp_server.calls) == calls_before + 1
    else:
        assert "not approved" in result.final_output or "declined" in result.final_output
        assert len(mcp_server.calls) == calls_before
