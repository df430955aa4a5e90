"""Prometheus metrics: request counts, token counts, latencies, and the engine's live state.

Each app owns its registry (tests build many apps in one process). Engine gauges (queue depth,
KV usage, prefix hits) are read from `engine.stats()` at scrape time rather than pushed, so they
are never stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_ITL_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _EngineCollector(Collector):
    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Any]:
        stats = self._stats()
        if stats is None:
            return
        yield GaugeMetricFamily(
            "gossamer_requests_running", "Sequences the engine is running.", stats.num_running
        )
        yield GaugeMetricFamily(
            "gossamer_requests_waiting", "Requests queued in the engine.", stats.num_waiting
        )
        yield GaugeMetricFamily(
            "gossamer_kv_cache_usage_ratio", "Fraction of KV cache blocks in use.", stats.kv_usage
        )
        yield GaugeMetricFamily(
            "gossamer_kv_cache_free_blocks", "Free KV cache blocks.", stats.num_free_blocks
        )
        yield GaugeMetricFamily(
            "gossamer_kv_cache_total_blocks", "KV cache blocks in all.", stats.num_total_blocks
        )
        yield GaugeMetricFamily(
            "gossamer_prefix_cache_hit_ratio",
            "Prompt tokens served from the prefix cache.",
            stats.prefix_hit_rate,
        )
        yield CounterMetricFamily(
            "gossamer_engine_aborted", "Requests aborted in the engine.", stats.num_aborted
        )
        yield CounterMetricFamily(
            "gossamer_engine_finished", "Requests finished in the engine.", stats.num_finished
        )
        # Engine-side latencies per request (stats fields added later may be absent on older engines).
        for name, doc, histogram in (
            ("gossamer_engine_time_to_first_token_seconds",
             "From a request's arrival in the engine to its first generated token.",
             getattr(stats, "time_to_first_token", None)),
            ("gossamer_engine_inter_token_latency_seconds",
             "Between consecutive generated tokens of one sequence, in the engine.",
             getattr(stats, "inter_token_latency", None)),
        ):
            if histogram is not None:
                buckets = [(str(bound), count) for bound, count in
                           zip(histogram.upper_bounds_s, histogram.cumulative_counts, strict=False)]
                buckets.append(("+Inf", histogram.cumulative_counts[-1]))
                yield HistogramMetricFamily(name, doc, buckets=buckets, sum_value=histogram.sum_s)
        drafts = getattr(stats, "num_draft_tokens", None)
        if drafts is not None:
            accepted = stats.num_accepted_draft_tokens
            yield CounterMetricFamily(
                "gossamer_spec_decode_draft_tokens", "Draft tokens verified (prompt lookup).", drafts
            )
            yield CounterMetricFamily(
                "gossamer_spec_decode_accepted_tokens", "Draft tokens accepted.", accepted
            )
            yield GaugeMetricFamily(
                "gossamer_spec_decode_acceptance_ratio",
                "Accepted / verified draft tokens since start.",
                accepted / drafts if drafts else 0.0,
            )


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gossamer_http_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "gossamer_prompt_tokens", "Prompt tokens processed.", registry=self.registry
        )
        self.cached_prompt_tokens = Counter(
            "gossamer_cached_prompt_tokens",
            "Prompt tokens served from the prefix cache.",
            registry=self.registry,
        )
        self.generation_tokens = Counter(
            "gossamer_generation_tokens", "Tokens generated.", registry=self.registry
        )
        self.time_to_first_token = Histogram(
            "gossamer_time_to_first_token_seconds",
            "From request arrival to its first generated token.",
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.inter_token_latency = Histogram(
            "gossamer_inter_token_latency_seconds",
            "Between consecutive generated tokens of one sequence.",
            buckets=_ITL_BUCKETS_S,
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "gossamer_request_duration_seconds",
            "From request arrival to its last token.",
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._engine_collector: _EngineCollector | None = None

    # -- GenerationMetrics (gossamer.turn.generation): what each engine request reports ------------

    def on_prompt(self, num_prompt_tokens: int) -> None:
        self.prompt_tokens.inc(num_prompt_tokens)

    def on_cached_prompt(self, num_cached_tokens: int) -> None:
        self.cached_prompt_tokens.inc(num_cached_tokens)

    def on_tokens(self, num_tokens: int, first_token_s: float | None, inter_token_s: float | None) -> None:
        self.generation_tokens.inc(num_tokens)
        if first_token_s is not None:
            self.time_to_first_token.observe(first_token_s)
        if inter_token_s is not None:
            for _ in range(num_tokens):
                self.inter_token_latency.observe(inter_token_s)

    def on_finished(self, latency_s: float) -> None:
        self.request_latency.observe(latency_s)

    def watch_engine(self, stats: Callable[[], Any]) -> None:
        if self._engine_collector is None:
            self._engine_collector = _EngineCollector(stats)
            self.registry.register(self._engine_collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)
