"""Latency histograms kept by the engine thread and read, as snapshots, at scrape time."""

from __future__ import annotations

import bisect

from gossamer.engine.protocol import LatencyHistogram

TTFT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
ITL_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self, upper_bounds_s: tuple[float, ...]) -> None:
        self.upper_bounds_s = upper_bounds_s
        self.counts = [0] * (len(upper_bounds_s) + 1)  # per bucket, the last one past every bound
        self.sum_s = 0.0

    def observe(self, value_s: float, times: int = 1) -> None:
        self.counts[bisect.bisect_left(self.upper_bounds_s, value_s)] += times
        self.sum_s += value_s * times

    def snapshot(self) -> LatencyHistogram:
        cumulative, total = [], 0
        for count in self.counts:
            total += count
            cumulative.append(total)
        return LatencyHistogram(self.upper_bounds_s, tuple(cumulative), self.sum_s)
