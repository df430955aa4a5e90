"""What every route needs: the engine, the harmony encoding, the served model's names, settings, metrics."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request

from gossamer.engine.protocol import Engine
from gossamer.server.auth import load_api_keys, tenant_of
from gossamer.server.errors import APIError
from gossamer.server.metrics import ServerMetrics
from gossamer.server.settings import ServerSettings
from gossamer.turn.pipeline import TurnPipeline
from gossamer.turn.render_pool import RenderPool
from gossamer.turn.replay import ReasoningReplay
from gossamer.turn.schema_limits import SchemaLimits

logger = logging.getLogger(__name__)


def normalize_model_name(name: str) -> str:
    """Fold the spellings clients use for one model into one key.

    `openai/gpt-oss-20b` (Hugging Face / Agents SDK), `gpt-oss:20b` (Ollama) and `gpt-oss-20b`
    all name the same model; case and a trailing `:latest` tag do not matter either.
    """
    key = name.strip().lower().removesuffix(":latest")
    key = key.rsplit("/", 1)[-1]
    return key.replace(":", "-").replace("_", "-")


@dataclass
class ServerState:
    engine: Engine
    encoding: Any  # openai_harmony.HarmonyEncoding
    model_name: str
    model_path: Path | None = None
    settings: ServerSettings = field(default_factory=ServerSettings)
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    created: int = field(default_factory=lambda: int(time.time()))
    extra_model_names: tuple[str, ...] = ()  # further names that resolve to the served model
    # The built-in tools it runs (gossamer.tools.config.ServerTools); None: made from the settings.
    server_tools: Any = None
    mcp_registry: Any = None  # gossamer.tools.mcp.registry.McpRegistry; None: made from the settings
    _pipeline: TurnPipeline | None = field(default=None, init=False, repr=False)
    _api_keys: list[str] | None = field(default=None, init=False, repr=False)

    @property
    def api_keys(self) -> list[str]:
        """Every key the server accepts (none: no key asked); each is a tenant."""
        if self._api_keys is None:
            self._api_keys = load_api_keys(self.settings.api_key, self.settings.api_keys_file)
        return self._api_keys

    async def shutdown(self) -> None:
        """The app's end: the engine, then the pipeline's render processes."""
        await self.engine.shutdown()
        if self._pipeline is not None:
            self._pipeline.shutdown()

    @property
    def tools(self) -> Any:  # ServerTools | None
        """The built-in tools (`--tools`), made on first use; None when the server runs none."""
        if self.server_tools is None and self.settings.tools:
            from gossamer.tools.config import ServerTools

            self.server_tools = ServerTools.from_settings(self.settings)
        return self.server_tools

    @property
    def mcp(self) -> Any:  # McpRegistry
        """MCP: the client every call goes through and the operator's `--mcp` servers (made on first use)."""
        if self.mcp_registry is None:
            from gossamer.tools.mcp.registry import McpRegistry

            self.mcp_registry = McpRegistry.from_settings(self.settings, os.environ)
        return self.mcp_registry

    def tenant(self, request: Request) -> str:
        """Whose stored data `request` may see (see auth.tenant_of)."""
        return tenant_of(request.headers.raw, self.api_keys)

    @property
    def pipeline(self) -> TurnPipeline:
        """The turn pipeline every API runs its turns through (made on first use)."""
        if self._pipeline is None:
            replay = self._replay()
            limits = SchemaLimits(self.settings.max_schema_depth, self.settings.max_schema_nodes)
            self._pipeline = TurnPipeline(
                self.engine,
                self.encoding,
                replay=replay,
                metrics=self.metrics,
                schema_limits=limits,
                render_pool=RenderPool(),
            )
        return self._pipeline

    def _replay(self) -> ReasoningReplay | None:
        settings = self.settings
        if not settings.reasoning_replay:
            return None
        from gossamer.server.responses.store import default_store_path
        from gossamer.turn.replay_store import ReplayStore

        path = settings.responses_store or default_store_path()
        try:
            store = ReplayStore(
                path, max_age_s=settings.replay_max_age_s, max_bytes=settings.replay_max_bytes
            )
        except (OSError, sqlite3.Error) as exc:
            logger.warning("reasoning replay is off: its store %s cannot be opened (%s)", path, exc)
            return None
        return ReasoningReplay(store)

    def resolve_model(self, requested: str) -> str | None:
        """The served model's id when `requested` names it (in any accepted spelling), else None."""
        key = normalize_model_name(requested)
        names = (self.model_name, *self.extra_model_names)
        if any(key == normalize_model_name(name) for name in names):
            return self.model_name
        return None

    @property
    def max_context_length(self) -> int:
        return self.engine.max_context_length

    @property
    def max_n(self) -> int:
        """The most choices one request may ask for: all n sequences must run at once."""
        return min(self.settings.max_n, self.settings.max_concurrent_requests)


def get_state(request: Request) -> ServerState:
    return request.app.state.server_state


def require_model(state: ServerState, requested: str) -> str:
    """The served model's id, or a 404 naming what this server serves."""
    model = state.resolve_model(requested)
    if model is None:
        raise APIError(
            404,
            f"The model '{requested}' does not exist; this server serves '{state.model_name}'.",
            "invalid_request_error",
            "model",
            "model_not_found",
        )
    return model
