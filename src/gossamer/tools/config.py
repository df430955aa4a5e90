"""The server's tools, made once from its settings: which are on, their backends and limits.

`ServerTools.toolbox(names)` gives each request its own tools (a fresh browser page stack). A
setting that cannot work raises `ToolConfigError` when the server starts, never at the first
call: python without a working sandbox (unless `--python-sandbox none` says to run it unisolated),
a search backend without its API key, an index that cannot be opened.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gossamer.errors import GossamerError
from gossamer.tools.browser.fetch import Fetcher, FetchLimits, parse_networks
from gossamer.tools.browser.tool import BrowserTool
from gossamer.tools.loop import DEFAULT_MAX_CALLS
from gossamer.tools.protocol import ServerTool
from gossamer.tools.python.sandbox import BwrapSandbox, SandboxLimits, SandboxUnavailable
from gossamer.tools.toolbox import ToolBox

logger = logging.getLogger(__name__)

KNOWN_TOOLS = ("browser", "python")
BACKENDS = ("local", "exa", "youcom")
SANDBOXES = ("bwrap", "none")


class ToolConfigError(GossamerError):
    pass


@dataclass
class ToolSettings:
    enabled: list[str] = field(default_factory=list)
    browser_backend: str = "local"
    browser_index: str | None = None  # None: browser-index.sqlite3 in the data directory
    browser_fetch: bool = True  # open http(s) URLs from the web (checked by the SSRF guard)
    browser_allow_networks: list[str] = field(default_factory=list)
    python_sandbox: str = "bwrap"
    python_interpreter: str | None = None
    python_limits: SandboxLimits = field(default_factory=SandboxLimits)
    max_calls: int = DEFAULT_MAX_CALLS
    env: dict[str, str] = field(
        default_factory=lambda: dict(os.environ)
    )  # API keys: EXA_API_KEY, YDC_API_KEY

    @classmethod
    def from_server(cls, settings: Any) -> ToolSettings:  # ServerSettings
        limits = SandboxLimits(
            wall_s=settings.python_timeout_s,
            cpu_s=max(1, int(settings.python_timeout_s)),
            memory_bytes=settings.python_memory_bytes,
        )
        return cls(
            enabled=list(settings.tools),
            browser_backend=settings.browser_backend,
            browser_index=settings.browser_index,
            browser_fetch=settings.browser_fetch,
            browser_allow_networks=list(settings.browser_allow_network),
            python_sandbox=settings.python_sandbox,
            python_interpreter=settings.python_interpreter,
            python_limits=limits,
            max_calls=settings.max_tool_calls,
        )


class ServerTools:
    def __init__(
        self,
        settings: ToolSettings,
        *,
        fetcher: Fetcher | None = None,
        backend: Any = None,
        sandbox: BwrapSandbox | None = None,
    ) -> None:
        unknown = [name for name in settings.enabled if name not in KNOWN_TOOLS]
        if unknown:
            raise ToolConfigError(
                f"unknown tool(s) {', '.join(unknown)}: the tools are {', '.join(KNOWN_TOOLS)}"
            )
        self.settings = settings
        self.enabled = [name for name in KNOWN_TOOLS if name in settings.enabled]
        self.max_calls = settings.max_calls
        self.backend = backend
        self.fetcher = fetcher
        self.sandbox = sandbox
        if "browser" in self.enabled:
            self._set_up_browser()
        if "python" in self.enabled and self.sandbox is None:
            self.sandbox = _sandbox(settings)

    @classmethod
    def from_settings(cls, server_settings: Any) -> ServerTools | None:
        if not server_settings.tools:
            return None
        return cls(ToolSettings.from_server(server_settings))

    def _set_up_browser(self) -> None:
        settings = self.settings
        if self.fetcher is None and settings.browser_fetch:
            try:
                networks = parse_networks(settings.browser_allow_networks)
            except ValueError as exc:
                raise ToolConfigError(f"--browser-allow-network: {exc}") from None
            self.fetcher = Fetcher(FetchLimits(), allowed_networks=networks)
        if self.backend is None:
            self.backend = _backend(settings)

    def toolbox(self, names: Sequence[str] | None = None, *, browser_pages: Sequence[dict] = ()) -> ToolBox:
        """Fresh tools for one request: `names` (default: every enabled tool)."""
        tools: list[ServerTool] = []
        for name in self.enabled if names is None else [n for n in self.enabled if n in names]:
            if name == "browser":
                browser = BrowserTool(self.backend, self.fetcher)
                browser.restore(list(browser_pages))
                tools.append(browser)
            elif name == "python":
                from gossamer.tools.python.tool import PythonTool

                assert self.sandbox is not None
                tools.append(PythonTool(self.sandbox))
        return ToolBox(tools)


def _backend(settings: ToolSettings) -> Any:
    kind = settings.browser_backend
    if kind == "local":
        from gossamer.tools.browser.backends.local import LocalBackend
        from gossamer.tools.browser.index import LocalIndex, default_index_path

        path = settings.browser_index or default_index_path()
        try:
            index = LocalIndex(path)
        except Exception as exc:
            raise ToolConfigError(f"the browser's local index {path} cannot be opened: {exc}") from None
        if index.count() == 0:
            logger.warning(
                "the browser's local index %s is empty: add documents with `gossamer index add PATH`", path
            )
        return LocalBackend(index)
    if kind == "exa":
        from gossamer.tools.browser.backends.exa import ExaBackend

        return ExaBackend(_key(settings, "EXA_API_KEY", kind))
    if kind == "youcom":
        from gossamer.tools.browser.backends.youcom import YouComBackend

        return YouComBackend(_key(settings, "YDC_API_KEY", kind))
    raise ToolConfigError(f"unknown browser backend {kind!r}: use one of {', '.join(BACKENDS)}")


def _key(settings: ToolSettings, variable: str, kind: str) -> str:
    key = settings.env.get(variable, "").strip()
    if not key:
        raise ToolConfigError(f"the {kind} browser backend needs its API key in ${variable}")
    return key


def _sandbox(settings: ToolSettings) -> BwrapSandbox:
    from gossamer.tools.python.sandbox import default_interpreter

    interpreter = settings.python_interpreter or default_interpreter()
    if settings.python_sandbox == "none":
        from gossamer.tools.python.unsandboxed import UnsandboxedRunner

        logger.warning(
            "python runs WITHOUT isolation (--python-sandbox none): the model's code can do "
            "anything this server's user can"
        )
        return UnsandboxedRunner(settings.python_limits, interpreter)  # type: ignore[return-value]
    if settings.python_sandbox != "bwrap":
        raise ToolConfigError(f"unknown python sandbox {settings.python_sandbox!r}: use bwrap or none")
    sandbox = BwrapSandbox(settings.python_limits, interpreter)
    try:
        sandbox.check()
    except SandboxUnavailable as exc:
        raise ToolConfigError(
            f"the python tool needs an isolated sandbox and none works here: {exc}. Install bubblewrap, "
            "or pass --python-sandbox none to run the model's code without isolation (unsafe)"
        ) from None
    return sandbox
