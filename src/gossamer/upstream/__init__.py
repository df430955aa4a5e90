"""Gossamer in front of other engines: vLLM, SGLang or Gossamer servers as upstreams, token in, token out.

The front renders and parses harmony itself and serves every API (Chat, Completions, Responses,
Ollama); its engine is a `RemoteEngine` (engine.py) that sends prompt ids to an upstream and
streams token ids back, keeping a conversation on the replica that holds its prefix cache
(affinity.py, balancer.py), watching the replicas (health.py) and counting per upstream
(metrics.py). One adapter per wire format: vllm.py, sglang.py, gossamer.py. docs/upstreams.md
is the operator's guide.
"""

from gossamer.upstream.config import (
    FleetConfig,
    UpstreamConfigError,
    UpstreamSpec,
    fleet_config,
    parse_upstream,
)
from gossamer.upstream.engine import RemoteEngine

__all__ = [
    "FleetConfig",
    "RemoteEngine",
    "UpstreamConfigError",
    "UpstreamSpec",
    "connect_fleet",
    "fleet_config",
    "parse_upstream",
]


def connect_fleet(config: FleetConfig, *, max_context_length: int | None = None) -> RemoteEngine:
    """A RemoteEngine whose upstreams have been reached (blocks until one is up; see FleetConfig)."""
    engine = RemoteEngine(config, max_context_length=max_context_length)
    engine.connect()
    return engine
