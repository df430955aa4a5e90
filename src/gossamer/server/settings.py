"""Server settings: one dataclass, filled from command-line flags over `GOSSAMER_*` environment variables.

Precedence: an explicit flag, then the environment variable, then the default. The CLI's
`gossamer serve` reuses `add_arguments` and `settings_from_args` so both entry points agree.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from gossamer.engine.config import EngineConfig

ENV_PREFIX = "GOSSAMER_"


@dataclass
class ServerSettings:
    model: str | None = None  # path or name; None: the embedded model
    served_model_name: str | None = None  # None: derived from the model's directory name
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # one key, or several comma-separated: each key is a tenant
    api_keys_file: str | None = None  # more keys, one per line ('#' comments)
    protect_health_metrics: bool = False  # ask the key on /health and /metrics too
    cors_origins: list[str] = field(default_factory=list)
    # Browser-facing safety (server/guard.py): Host names accepted besides loopback ones and the bind
    # address ('*': any), and whether /api/pull and /api/show may name folders on this machine.
    allowed_hosts: list[str] = field(default_factory=list)
    allow_local_paths: bool = False
    web_ui: bool = True  # the chat page at / (server/webui)
    # Limits on what one request may hold (server/body.py, server/schemas.py).
    max_body_bytes: int = 4 << 20  # ~8x a full 131k-token context in text; parsing it holds the GIL ~60 ms
    max_items: int = 16384  # messages of a chat, input items of a response
    max_schema_depth: int = 64  # nesting of a tool's or an answer's JSON schema
    max_schema_nodes: int = 20000  # objects and arrays in such a schema
    max_context_length: int | None = None  # None: the model's own limit
    kv_cache_memory_bytes: int | None = None  # None: the engine's default share of memory
    max_concurrent_requests: int = 32  # sequences the engine runs at once
    max_queue: int = 256  # requests waiting beyond that before 429
    device: str = "cpu"
    dtype: str = "bfloat16"
    log_level: str = "info"
    shutdown_timeout_s: float = 30.0  # graceful shutdown: how long running streams may finish
    max_n: int = 16  # the most choices one request may ask for
    responses_store: str | None = None  # Responses API store: SQLite file or ":memory:"; None: default
    # Reasoning replay (gossamer/turn/replay.py): kept in the same SQLite file as the Responses store.
    reasoning_replay: bool = True
    replay_max_age_s: float = 7 * 24 * 3600.0
    replay_max_bytes: int = 256 << 20
    # Built-in tools the server runs (gossamer/tools, docs/builtin-tools.md).
    tools: list[str] = field(default_factory=list)  # "browser", "python"
    browser_backend: str = "local"  # local (the offline index), exa, youcom
    browser_index: str | None = None
    browser_fetch: bool = True
    browser_allow_network: list[str] = field(default_factory=list)
    python_sandbox: str = "bwrap"
    python_interpreter: str | None = None
    python_timeout_s: float = 20.0
    python_memory_bytes: int = 1 << 30
    max_tool_calls: int = 16
    # MCP servers (gossamer/tools/mcp, docs/mcp.md): the operator's own, and limits on every call.
    mcp: list[str] = field(default_factory=list)  # NAME=URL, offered to every request
    mcp_timeout_s: float = 30.0
    mcp_max_output_bytes: int = 32 << 10
    mcp_allow_network: list[str] = field(default_factory=list)
    mcp_list_ttl_s: float = 300.0
    # Upstreams (gossamer/upstream): with any, this server runs no model and serves theirs.
    upstream: list[str] = field(default_factory=list)
    upstream_config: str | None = None  # a TOML file of upstreams (docs/upstreams.md)
    upstream_api_key: str | None = None  # for upstreams without their own key
    upstream_health_interval_s: float | None = None  # None: the config file's, else 5 s
    upstream_timeout_s: float | None = None  # None: the config file's, else 300 s

    @property
    def uses_upstreams(self) -> bool:
        return bool(self.upstream or self.upstream_config)

    def engine_config(self) -> EngineConfig:
        """The engine's part of these settings: the one place where server flags become engine fields."""
        return EngineConfig(
            dtype=self.dtype,
            device=self.device,
            kv_cache_memory_bytes=self.kv_cache_memory_bytes,
            max_num_seqs=self.max_concurrent_requests,
            max_context_length=self.max_context_length,
            max_queue=self.max_queue,
        )


def _parse_bytes(text: str) -> int:
    """'8GiB', '512M', '1073741824' -> bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(float(t))


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected on/off, true/false, yes/no or 1/0, got {text!r}")


def _parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


_PARSERS: dict[str, Any] = {
    "port": int,
    "max_context_length": int,
    "kv_cache_memory_bytes": _parse_bytes,
    "max_concurrent_requests": int,
    "max_queue": int,
    "shutdown_timeout_s": float,
    "max_n": int,
    "cors_origins": _parse_list,
    "protect_health_metrics": _parse_bool,
    "allowed_hosts": _parse_list,
    "allow_local_paths": _parse_bool,
    "web_ui": _parse_bool,
    "max_body_bytes": _parse_bytes,
    "max_items": int,
    "max_schema_depth": int,
    "max_schema_nodes": int,
    "reasoning_replay": _parse_bool,
    "replay_max_age_s": float,
    "replay_max_bytes": _parse_bytes,
    "upstream": _parse_list,
    "tools": _parse_list,
    "browser_fetch": _parse_bool,
    "browser_allow_network": _parse_list,
    "python_timeout_s": float,
    "python_memory_bytes": _parse_bytes,
    "max_tool_calls": int,
    "mcp": _parse_list,
    "mcp_timeout_s": float,
    "mcp_max_output_bytes": _parse_bytes,
    "mcp_allow_network": _parse_list,
    "mcp_list_ttl_s": float,
    "upstream_health_interval_s": float,
    "upstream_timeout_s": float,
}

_REPEATABLE = frozenset(
    {"upstream", "allowed_hosts", "tools", "browser_allow_network", "mcp", "mcp_allow_network"}
)

_HELP = {
    "model": "model directory or name",
    "served_model_name": "the model id clients use",
    "host": "interface to listen on",
    "port": "TCP port",
    "api_key": "require this bearer API key on every API route (several comma-separated: one tenant "
    "each, who sees only its own stored responses and replayed reasoning)",
    "api_keys_file": "a file of further API keys, one per line",
    "protect_health_metrics": "require the API key on /health and /metrics too (on/off)",
    "cors_origins": "comma-separated origins allowed by CORS ('*' for any)",
    "allowed_hosts": "Host names accepted besides loopback names and the bind address (repeatable or "
    "comma-separated; '*' for any): guards against DNS rebinding from web pages",
    "allow_local_paths": "let /api/pull and /api/show name model folders on this machine (on/off)",
    "web_ui": "serve the chat page at / (on/off)",
    "max_body_bytes": "largest request body, e.g. 16MiB (413 beyond; parsing a larger one holds "
    "other requests up for longer)",
    "max_items": "most messages (or input items) in one request",
    "max_schema_depth": "deepest nesting of a JSON schema in a request (tool parameters, formats)",
    "max_schema_nodes": "most objects and arrays in one JSON schema of a request",
    "max_context_length": "tokens per sequence (prompt + output)",
    "kv_cache_memory_bytes": "memory for the KV cache, e.g. 4GiB",
    "max_concurrent_requests": "sequences run at once",
    "max_queue": "requests allowed to wait before answering 429",
    "device": "cpu, cuda, cuda:0, ...",
    "dtype": "bfloat16 or float32",
    "log_level": "debug, info, warning, error",
    "shutdown_timeout_s": "seconds running streams get to finish on shutdown",
    "max_n": "the largest n one request may ask for",
    "responses_store": "SQLite file of stored Responses (':memory:' keeps none across restarts)",
    "reasoning_replay": "give back the reasoning of tool-call turns that clients drop (on/off)",
    "replay_max_age_s": "seconds replayable reasoning is kept",
    "replay_max_bytes": "most replayable reasoning kept, e.g. 256MiB (oldest dropped first)",
    "tools": "built-in tools the server runs for the model: browser, python (comma-separated or "
    "repeated); see docs/builtin-tools.md",
    "browser_backend": "where browser searches go: local (the offline index), exa ($EXA_API_KEY) or "
    "youcom ($YDC_API_KEY)",
    "browser_index": "the local backend's index, built with `gossamer index add PATH`",
    "browser_fetch": "let the browser open http(s) pages from the web (public addresses only) (on/off)",
    "browser_allow_network": "networks the browser may open despite being private, e.g. 10.0.0.0/8 "
    "(repeatable or comma-separated)",
    "python_sandbox": "how python runs: bwrap (isolated; needs bubblewrap) or none (unsafe: the code "
    "runs as this server's user)",
    "python_interpreter": "the interpreter the python tool runs (it must be readable by nobody)",
    "python_timeout_s": "wall-clock seconds one python call may run (and as many CPU seconds)",
    "python_memory_bytes": "address space of one python call, e.g. 1GiB",
    "max_tool_calls": "tool calls (built-in and MCP) one answer may make before the model is told to answer",
    "mcp": "an MCP server whose tools every request may use, run by this server: NAME=URL (repeatable or "
    "comma-separated); headers from $GOSSAMER_MCP_HEADERS_NAME or $GOSSAMER_MCP_TOKEN_NAME; see docs/mcp.md",
    "mcp_timeout_s": "seconds one MCP call or tool listing may take, connecting included",
    "mcp_max_output_bytes": "most of one MCP tool result the model reads, e.g. 32KiB (the rest is cut)",
    "mcp_allow_network": "networks a request's MCP server may be at although private, e.g. 127.0.0.0/8 "
    "(repeatable or comma-separated; by default only public addresses)",
    "mcp_list_ttl_s": "seconds the tool list of a --mcp server is reused before it is fetched again",
    "upstream": "serve a vLLM, SGLang or Gossamer server's model instead of loading one: its URL "
    "(repeatable, or comma-separated), e.g. http://gpu-1:8000, or vllm+URL, sglang+URL, gossamer+URL "
    "to name its kind",
    "upstream_config": "TOML file listing upstreams (url, kind, api_key or api_key_env) and routing "
    "settings; see docs/upstreams.md",
    "upstream_api_key": "bearer key sent to upstreams that have none of their own",
    "upstream_health_interval_s": "seconds between upstream health checks: a failing upstream is out "
    "within this, and back in at the first check it passes",
    "upstream_timeout_s": "the longest silence allowed within an upstream's stream, in seconds",
}


def _split_host(env: Mapping[str, str]) -> dict[str, str]:
    """GOSSAMER_HOST may be a URL or host:port (Ollama's OLLAMA_HOST habit) for servers and clients alike."""
    raw = env.get(ENV_PREFIX + "HOST", "").strip()
    hostport = raw.split("://", 1)[-1].rstrip("/")
    if hostport.startswith("["):  # [::1]:8000
        host, _, rest = hostport[1:].partition("]")
        port = rest.removeprefix(":")
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    else:
        return dict(env)
    out = {**env, ENV_PREFIX + "HOST": host}
    if port and not env.get(ENV_PREFIX + "PORT"):
        out[ENV_PREFIX + "PORT"] = port
    return out


def settings_from_env(env: Mapping[str, str] | None = None) -> ServerSettings:
    env = _split_host(os.environ if env is None else env)
    values: dict[str, Any] = {}
    for f in fields(ServerSettings):
        raw = env.get(env_name(f.name))
        if raw is None or raw == "":
            continue
        try:
            values[f.name] = _PARSERS.get(f.name, str)(raw)
        except ValueError as exc:
            raise ValueError(f"{env_name(f.name)}={raw!r} is not valid: {exc}") from exc
    return ServerSettings(**values)


# What a default of None means, in the words `--help` shows.
_NONE_MEANS = {
    "model": "the embedded gossamer-tiny model",
    "served_model_name": "the model directory's name",
    "api_key": "none, no key asked",
    "api_keys_file": "none",
    "allowed_hosts": "none",
    "max_context_length": "the model's own limit",
    "kv_cache_memory_bytes": "1GiB",  # the engine's own default (engine/kv_cache.py)
    "responses_store": "responses.sqlite3 in the data directory",
    "upstream_config": "none",
    "upstream_api_key": "none",
    "browser_index": "browser-index.sqlite3 in the data directory",
    "python_interpreter": "/usr/bin/python3, else this Python",
    "upstream_health_interval_s": "the config file's, else 5",
    "upstream_timeout_s": "the config file's, else 300",
}


def _compact_bytes(num_bytes: int) -> str:
    """256 << 20 -> '256MiB': the form the flag itself accepts."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if num_bytes >= size and num_bytes % size == 0:
            return f"{num_bytes // size}{unit}"
    return str(num_bytes)


def default_text(f: Field) -> str:
    """A setting's default as `--help` shows it."""
    value = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
    if value is None:
        return _NONE_MEANS.get(f.name, "none")
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(value) or "none"
    if f.name.endswith("_bytes"):
        return _compact_bytes(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
        if f.name.endswith("_s") and value >= 86400 and value % 86400 == 0:
            return f"{value} = {value // 86400} days"
    return str(value)


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _help(f: Field) -> str:
    # argparse treats % as a format character in help strings.
    return f"{_HELP[f.name]} (default: {default_text(f)}; env {env_name(f.name)})".replace("%", "%%")


def add_arguments(parser: argparse.ArgumentParser, *, model_positional: bool = False) -> None:
    """Add one flag per setting (defaults left None so the environment can fill the gaps).

    The help shows the dataclass default and the GOSSAMER_* variable of each flag instead.
    """
    if parser.epilog is None:
        parser.epilog = "A flag wins over its GOSSAMER_* environment variable, which wins over the default."
    for f in fields(ServerSettings):
        if f.name == "model" and model_positional:
            parser.add_argument("model", nargs="?", default=None, help=_help(f))
            continue
        flag = "--" + f.name.replace("_", "-")
        # A list setting's flag may repeat: --upstream A --upstream B,C gives [A, B, C].
        action = "extend" if f.name in _REPEATABLE else "store"
        parser.add_argument(
            flag, dest=f.name, default=None, type=_PARSERS.get(f.name, str), help=_help(f), action=action
        )


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ServerSettings:
    settings = settings_from_env(env)
    for f in fields(ServerSettings):
        value = getattr(args, f.name, None)
        if value is not None:
            setattr(settings, f.name, value)
    return settings
