"""Per-upstream Prometheus metrics, labelled `upstream="host:port"`, served on the front's /metrics.

Counters and histograms are kept here (unregistered prometheus_client objects) and handed out by
`collect()`; state and load gauges are read from the replicas at scrape time, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gossamer.upstream.replica import Replica, ReplicaState

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class UpstreamMetrics(Collector):
    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        label = ["upstream"]
        self.requests = Counter(
            "gossamer_upstream_requests",
            "Sequences sent to an upstream, by outcome: ok, refused (4xx), failed, retried (failed before "
            "its first token and sent elsewhere), aborted.",
            [*label, "outcome"],
            registry=None,
        )
        self.failures = Counter(
            "gossamer_upstream_failures",
            "Upstream failures by kind: connect, stream (broke or ended early), status (an error answer), "
            "timeout, protocol (an answer not in the documented shape), health (a failed health check).",
            [*label, "kind"],
            registry=None,
        )
        self.affinity = Counter(
            "gossamer_upstream_prefix_affinity",
            "Requests routed by prefix: hit (sent to the replica holding the prompt's prefix), passed_over "
            "(the holder was too busy), none (no replica held it).",
            [*label, "result"],
            registry=None,
        )
        self.prompt_tokens = Counter(
            "gossamer_upstream_prompt_tokens", "Prompt tokens sent.", label, registry=None
        )
        self.cached_prompt_tokens = Counter(
            "gossamer_upstream_cached_prompt_tokens",
            "Prompt tokens the upstream served from its prefix cache (as it reports them).",
            label,
            registry=None,
        )
        self.generation_tokens = Counter(
            "gossamer_upstream_generation_tokens", "Tokens generated upstream.", label, registry=None
        )
        self.time_to_first_token = Histogram(
            "gossamer_upstream_time_to_first_token_seconds",
            "From sending a sequence upstream to its first token.",
            label,
            buckets=_LATENCY_BUCKETS_S,
            registry=None,
        )
        self.request_duration = Histogram(
            "gossamer_upstream_request_duration_seconds",
            "From sending a sequence upstream to its end.",
            label,
            buckets=_LATENCY_BUCKETS_S,
            registry=None,
        )
        self._owned = (
            self.requests, self.failures, self.affinity, self.prompt_tokens, self.cached_prompt_tokens,
            self.generation_tokens, self.time_to_first_token, self.request_duration,
        )  # fmt: skip

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "gossamer_upstream_up", "1 while the upstream is up and in rotation.", labels=["upstream"]
        )
        state = GaugeMetricFamily(
            "gossamer_upstream_state",
            "The upstream's state (1 for the current one).",
            labels=["upstream", "state"],
        )
        in_flight = GaugeMetricFamily(
            "gossamer_upstream_in_flight", "Sequences streaming from the upstream now.", labels=["upstream"]
        )
        outstanding = GaugeMetricFamily(
            "gossamer_upstream_outstanding_tokens",
            "The load the balancer sees: prompt plus expected output of the sequences in flight.",
            labels=["upstream"],
        )
        for replica in self.replicas:
            up.add_metric([replica.label], 1.0 if replica.is_up else 0.0)
            for s in ReplicaState:
                state.add_metric([replica.label, s.value], 1.0 if replica.state is s else 0.0)
            in_flight.add_metric([replica.label], replica.num_in_flight)
            outstanding.add_metric([replica.label], replica.outstanding_tokens)
        yield from (up, state, in_flight, outstanding)
        for metric in self._owned:
            yield from metric.collect()
