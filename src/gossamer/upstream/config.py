"""What a front needs to know about its upstreams: where they are, what they are, how to watch them.

Upstreams come from `--upstream URL` (repeatable; `vllm+http://...` names the kind, a bare URL
has it asked from the server) and from a TOML file (`--upstream-config`) that can also carry a
per-upstream API key and the routing knobs:

    balance_abs_tokens = 4096

    [[upstream]]
    url = "http://gpu-1:8000"
    kind = "vllm"                 # vllm | sglang | gossamer; left out: asked from the server
    api_key_env = "VLLM_API_KEY"  # or api_key = "..."
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gossamer.errors import GossamerError

KINDS = ("vllm", "sglang", "gossamer")


class UpstreamConfigError(GossamerError):
    """An upstream list or file that cannot be used as written; the message says where."""


@dataclass(frozen=True)
class UpstreamSpec:
    url: str  # base URL, no trailing slash and no /v1: http://gpu-1:8000
    kind: str | None = None  # None: asked from the server when it is first reached
    api_key: str | None = None

    @property
    def label(self) -> str:
        """The name metrics and logs use: host:port."""
        return urlsplit(self.url).netloc or self.url


@dataclass(frozen=True)
class FleetConfig:
    upstreams: tuple[UpstreamSpec, ...]
    health_interval_s: float = 5.0  # a failing replica is out within this, and probed back in at it
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0  # the longest silence within one stream (a long prefill included)
    startup_wait_s: float = 300.0  # how long `serve` waits for a first upstream (vLLM loads for minutes)
    max_failures: int = 3  # requests failing in a row (5xx) before a replica that still connects is out
    block_size: int = 16  # the prefix cache's block: vLLM, SGLang (page size) and Gossamer all default to 16
    prefix_index_blocks: int = 1 << 20  # block names remembered for affinity, least recently used dropped
    # The replica holding a conversation's prefix is passed over when it is this much busier than the
    # least busy one, in outstanding tokens: by more than balance_abs_tokens and by a factor above
    # balance_rel (SGLang's cache-aware router weighs the same two thresholds, in requests).
    balance_abs_tokens: int = 4096
    balance_rel: float = 2.0
    # A prefix shared by many prompts (a system prompt, a tool list) draws new conversations to the
    # replicas holding it only from this length on; shorter ones are cheaper to recompute than to
    # queue for, and following them would pile every new conversation onto one replica.
    affinity_min_shared_tokens: int = 4096
    expected_output_tokens: int = 1024  # a request's output counted in its load when max_tokens is larger

    def __post_init__(self) -> None:
        if not self.upstreams:
            raise UpstreamConfigError("no upstreams: give --upstream URL or --upstream-config FILE")
        for name in ("health_interval_s", "connect_timeout_s", "read_timeout_s", "block_size", "balance_rel"):
            if getattr(self, name) <= 0:
                raise UpstreamConfigError(f"{name} must be positive, got {getattr(self, name)}")
        urls = [spec.url for spec in self.upstreams]
        if len(set(urls)) != len(urls):
            raise UpstreamConfigError(
                f"an upstream is listed twice: {sorted(u for u in urls if urls.count(u) > 1)[0]}"
            )


def parse_upstream(text: str, api_key: str | None = None) -> UpstreamSpec:
    """'vllm+http://gpu-1:8000', 'http://gpu-1:8000/v1' or 'gpu-1:8000' -> an UpstreamSpec."""
    raw = text.strip()
    kind = None
    head, sep, rest = raw.partition("+")
    if sep and head.lower() in KINDS and "://" in rest:
        kind, raw = head.lower(), rest
    if "://" not in raw:
        raw = "http://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamConfigError(f"upstream {text!r} is not an http(s) URL (e.g. http://gpu-1:8000)")
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError as exc:
        raise UpstreamConfigError(f"upstream {text!r} has a bad port") from exc
    # The OpenAI habit of a base URL ending in /v1: the adapters add their own paths.
    path = parts.path.rstrip("/").removesuffix("/v1").rstrip("/")
    return UpstreamSpec(f"{parts.scheme}://{parts.netloc}{path}", kind, api_key)


_FLEET_KEYS = {f.name for f in fields(FleetConfig)} - {"upstreams"}
_UPSTREAM_KEYS = {"url", "kind", "api_key", "api_key_env"}


def _upstream_from_table(table: dict[str, Any], where: str, env: dict[str, str]) -> UpstreamSpec:
    unknown = set(table) - _UPSTREAM_KEYS
    if unknown:
        raise UpstreamConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r} (known: {sorted(_UPSTREAM_KEYS)})"
        )
    if "url" not in table:
        raise UpstreamConfigError(f"{where}: an [[upstream]] needs a url")
    kind = table.get("kind")
    if kind is not None and kind not in KINDS:
        raise UpstreamConfigError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    api_key = table.get("api_key")
    if "api_key_env" in table:
        name = table["api_key_env"]
        if name not in env:
            raise UpstreamConfigError(f"{where}: api_key_env names {name}, which is not set")
        api_key = env[name]
    spec = parse_upstream(str(table["url"]), api_key)
    return UpstreamSpec(spec.url, kind or spec.kind, spec.api_key)


def load_config_file(
    path: str | Path, env: dict[str, str] | None = None
) -> tuple[list[UpstreamSpec], dict[str, Any]]:
    """The upstreams and fleet settings of a TOML file."""
    env = dict(os.environ) if env is None else env
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise UpstreamConfigError(f"cannot read the upstream config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UpstreamConfigError(f"{path} is not valid TOML: {exc}") from exc
    tables = data.pop("upstream", [])
    if not isinstance(tables, list):
        raise UpstreamConfigError(f"{path}: write each upstream as an [[upstream]] table")
    unknown = set(data) - _FLEET_KEYS
    if unknown:
        raise UpstreamConfigError(
            f"{path}: unknown key {sorted(unknown)[0]!r} (known: {sorted(_FLEET_KEYS)})"
        )
    specs = [_upstream_from_table(t, f"{path}, upstream {i + 1}", env) for i, t in enumerate(tables)]
    return specs, data


def fleet_config(
    urls: list[str],
    config_file: str | None = None,
    *,
    api_key: str | None = None,
    health_interval_s: float | None = None,
    timeout_s: float | None = None,
    env: dict[str, str] | None = None,
) -> FleetConfig:
    """The fleet from the server's flags: --upstream URLs first, then the file's; a flag wins over the file.

    `api_key` goes to every upstream that has none of its own.
    """
    specs: list[UpstreamSpec] = []
    settings: dict[str, Any] = {}
    for url in urls:
        specs.extend(parse_upstream(part) for part in url.split(",") if part.strip())
    if config_file:
        file_specs, settings = load_config_file(config_file, env)
        specs.extend(file_specs)
    if api_key:
        specs = [s if s.api_key else UpstreamSpec(s.url, s.kind, api_key) for s in specs]
    if health_interval_s is not None:
        settings["health_interval_s"] = health_interval_s
    if timeout_s is not None:
        settings["read_timeout_s"] = timeout_s
    try:
        return FleetConfig(tuple(specs), **settings)
    except TypeError as exc:  # a value of the wrong type in the file
        raise UpstreamConfigError(f"upstream settings: {exc}") from exc
