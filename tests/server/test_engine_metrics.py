"""The engine's own latency histograms and speculative-decoding counters reach /metrics."""

from __future__ import annotations

from gossamer.engine.latency import ITL_BUCKETS_S, TTFT_BUCKETS_S, Histogram
from gossamer.engine.protocol import EngineStats
from gossamer.server.metrics import ServerMetrics


def test_engine_latency_and_acceptance_are_exposed():
    ttft, itl = Histogram(TTFT_BUCKETS_S), Histogram(ITL_BUCKETS_S)
    ttft.observe(0.3)
    ttft.observe(4.0)
    itl.observe(0.12, times=3)
    stats = EngineStats(num_running=1, num_waiting=0, kv_usage=0.1, num_free_blocks=9, num_total_blocks=10,
                        prefix_hit_rate=0.0, num_aborted=0, num_finished=2,
                        time_to_first_token=ttft.snapshot(), inter_token_latency=itl.snapshot(),
                        num_draft_tokens=40, num_accepted_draft_tokens=30)
    metrics = ServerMetrics()
    metrics.watch_engine(lambda: stats)
    text = metrics.render().decode()
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert float(lines['gossamer_engine_time_to_first_token_seconds_bucket{le="0.5"}']) == 1
    assert float(lines['gossamer_engine_time_to_first_token_seconds_bucket{le="+Inf"}']) == 2
    assert float(lines["gossamer_engine_time_to_first_token_seconds_sum"]) == 4.3
    assert float(lines['gossamer_engine_inter_token_latency_seconds_bucket{le="0.15"}']) == 3
    assert float(lines["gossamer_spec_decode_draft_tokens_total"]) == 40
    assert float(lines["gossamer_spec_decode_accepted_tokens_total"]) == 30
    assert float(lines["gossamer_spec_decode_acceptance_ratio"]) == 0.75
