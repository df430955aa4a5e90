"""A live server (the real app on 127.0.0.1, in a thread) whose scripted model uses the built-in tools."""

from __future__ import annotations

from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine
from gossamer.testing.tool_script import builtin_tool_script
from gossamer.tools.config import ServerTools, ToolSettings
from gossamer.tools.python.sandbox import BwrapSandbox
from tests.server.conftest import LiveApp, start_app
from tests.tools.sandbox_support import TEST_LIMITS, sandbox_problem


def tool_app(
    backend,
    *,
    tools: tuple[str, ...] = ("browser", "python"),
    settings: ServerSettings | None = None,
    sandbox: BwrapSandbox | None = None,
) -> LiveApp:
    engine = ScriptedEngine(builtin_tool_script, max_context_length=16384, tokens_per_step=8)
    app = start_app(engine, settings)
    enabled = [t for t in tools if t != "python" or sandbox is not None or sandbox_problem() is None]
    app.state.server_tools = ServerTools(
        ToolSettings(enabled=enabled, browser_fetch=False, max_calls=8),
        backend=backend,
        sandbox=sandbox or (BwrapSandbox(TEST_LIMITS) if "python" in enabled else None),
    )
    return app
