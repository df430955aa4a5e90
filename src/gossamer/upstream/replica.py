"""One upstream server as the front sees it: its state, what it is, and the load sent to it.

State, and who moves it (one owner per transition):
- UNKNOWN -> UP | INCOMPATIBLE: identification (identify.py), when first reached;
- UP -> DOWN: a connection that fails or a stream that breaks (engine.py), `max_failures` 5xx in a
  row, or a failed health check (health.py);
- DOWN -> UP: a health check that identifies it again (it may have restarted as something else).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from enum import Enum

from gossamer.upstream.adapter import Adapter
from gossamer.upstream.config import UpstreamSpec

logger = logging.getLogger(__name__)


class ReplicaState(Enum):
    UNKNOWN = "unknown"  # not reached yet
    UP = "up"
    DOWN = "down"
    INCOMPATIBLE = "incompatible"  # reached, but cannot serve tokens (or serves another model)


@dataclass(frozen=True)
class Identity:
    kind: str
    model: str  # the upstream's id for the model
    max_model_len: int | None
    supports_seed: bool = True


@dataclass
class Ticket:
    """One sequence's share of a replica's load: prompt plus the output still expected, in tokens."""

    replica: Replica
    num_tokens: int

    def progress(self, num_new: int) -> None:
        # Each generated token is one less to come, down to the prompt's share.
        step = min(num_new, self.num_tokens)
        self.num_tokens -= step
        self.replica.outstanding_tokens -= step

    def end(self) -> None:
        self.replica.outstanding_tokens -= self.num_tokens
        self.replica.num_in_flight -= 1
        self.num_tokens = 0


@dataclass
class Replica:
    spec: UpstreamSpec
    state: ReplicaState = ReplicaState.UNKNOWN
    identity: Identity | None = None
    adapter: Adapter | None = None
    reason: str | None = None  # why it is down or incompatible
    since_s: float = field(default_factory=time.monotonic)
    outstanding_tokens: int = 0
    num_in_flight: int = 0
    consecutive_failures: int = 0

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def is_up(self) -> bool:
        return self.state is ReplicaState.UP

    def begin(self, num_prompt_tokens: int, num_output_tokens: int) -> Ticket:
        self.outstanding_tokens += num_prompt_tokens + num_output_tokens
        self.num_in_flight += 1
        return Ticket(self, num_prompt_tokens + num_output_tokens)

    def mark_up(self, identity: Identity, adapter: Adapter) -> None:
        if self.state is not ReplicaState.UP:
            logger.info("upstream %s is up: %s serving %s", self.label, identity.kind, identity.model)
        self.identity, self.adapter = identity, adapter
        self._move(ReplicaState.UP, None)
        self.consecutive_failures = 0

    def mark_down(self, reason: str) -> None:
        if self.state is ReplicaState.UP:
            logger.warning("upstream %s is down: %s", self.label, reason)
        self._move(ReplicaState.DOWN, reason)

    def mark_incompatible(self, reason: str) -> None:
        if (self.state, self.reason) != (ReplicaState.INCOMPATIBLE, reason):  # once, not at every check
            logger.error("upstream %s cannot be used: %s", self.label, reason)
        self._move(ReplicaState.INCOMPATIBLE, reason)

    def record_failure(self, reason: str, *, connection: bool, max_failures: int) -> bool:
        """A request failed here; True when that took the replica out."""
        self.consecutive_failures += 1
        if self.is_up and (connection or self.consecutive_failures >= max_failures):
            self.mark_down(reason)
            return True
        return False

    def record_success(self) -> None:
        self.consecutive_failures = 0

    def _move(self, state: ReplicaState, reason: str | None) -> None:
        if state is not self.state:
            self.since_s = time.monotonic()
        self.state, self.reason = state, reason
