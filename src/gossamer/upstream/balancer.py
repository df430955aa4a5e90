"""Where a request goes: the replica holding its prefix, unless that one is much busier than the rest.

Load is outstanding tokens: for each sequence in flight on a replica, its prompt plus the output
still expected (max_tokens, capped at `expected_output_tokens` so that a request asking for the
whole context does not count as a hundred ordinary ones). A prefix holder is passed over when it
carries more than `balance_abs_tokens` above the least loaded replica *and* more than
`balance_rel` times its load; then, and for prompts nobody holds, the least loaded replica wins,
ties taken in turn so that an idle fleet still spreads new conversations.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from gossamer.upstream.affinity import PrefixMatch
from gossamer.upstream.config import FleetConfig
from gossamer.upstream.replica import Replica


@dataclass(frozen=True)
class Choice:
    replica: Replica
    affinity: bool  # sent to the replica holding the prompt's prefix
    passed_over: bool = False  # a holder existed, and was too busy


class Balancer:
    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self._turn = itertools.count()

    def least_loaded(self, candidates: list[Replica]) -> Replica:
        least = min(r.outstanding_tokens for r in candidates)
        tied = [r for r in candidates if r.outstanding_tokens == least]
        return tied[next(self._turn) % len(tied)]

    def too_busy(self, holder: Replica, least: Replica) -> bool:
        excess = holder.outstanding_tokens - least.outstanding_tokens
        return (
            excess > self.config.balance_abs_tokens
            and holder.outstanding_tokens > self.config.balance_rel * least.outstanding_tokens
        )

    def choose(self, match: PrefixMatch, candidates: list[Replica]) -> Choice:
        """candidates: the replicas that are up and can honour the request (never empty)."""
        least = self.least_loaded(candidates)
        by_label = {r.label: r for r in candidates}
        holders = [by_label[label] for label in match.holders if label in by_label]  # most recent first
        if not holders:
            return Choice(least, affinity=False)
        holder = min(holders, key=lambda r: r.outstanding_tokens)
        if self.too_busy(holder, least):
            return Choice(least, affinity=False, passed_over=True)
        return Choice(holder, affinity=True)
