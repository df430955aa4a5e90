"""One sequence being generated: its tokens, progress, KV block tables and sampling state.

Who moves a sequence between states (one owner per transition):
- the scheduler: WAITING -> RUNNING (admitted) and RUNNING -> WAITING (preempted for recompute);
- the engine: RUNNING -> FINISHED (stop token or length, in postprocess) and any -> FINISHED
  (abort).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum, auto

from gossamer.engine.protocol import SamplingParams, TokenConstraint


class SequenceStatus(Enum):
    WAITING = auto()  # queued, or preempted and waiting to be recomputed
    RUNNING = auto()  # holds KV blocks and is scheduled every step
    FINISHED = auto()


@dataclass(eq=False)
class Sequence:
    seq_id: int
    request_id: str
    index: int  # which of the request's n sequences
    token_ids: list[int]  # prompt then output
    num_prompt_tokens: int
    params: SamplingParams
    max_tokens: int  # resolved: never None here
    seed: int = 0  # keys the sampler's random numbers (with the output position): see sampler.py
    status: SequenceStatus = SequenceStatus.WAITING
    # Tokens whose K/V are in the cache; the rest (from here on) still go through the model.
    num_computed_tokens: int = 0
    num_cached_tokens: int | None = None  # prefix-cache hit at first admission
    # Physical block ids per logical block; sliding-layer entries that fell out of the window
    # are None (their blocks went back to the pool).
    full_block_table: list[int] = field(default_factory=list)
    sliding_block_table: list[int | None] = field(default_factory=list)
    block_hashes: list[bytes] = field(default_factory=list)  # chained hash of each full, computed block
    output_counts: Counter[int] = field(default_factory=Counter)  # for presence/frequency penalties
    finish_reason: str | None = None
    stop_token_id: int | None = None
    num_preemptions: int = 0
    # Speculative tokens proposed for the next step (prompt lookup), verified when it runs.
    draft_ids: tuple[int, ...] = ()
    # Engine-side timing (time.monotonic()): arrival, and when the last tokens came out.
    arrival_s: float = 0.0
    last_token_s: float | None = None
    # The grammar this sequence's tokens must follow (params.constraint made it), advanced by the
    # engine with each token it appends.
    constraint: TokenConstraint | None = None

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def output_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens :]

    @property
    def is_finished(self) -> bool:
        return self.status is SequenceStatus.FINISHED

    def append_token(self, token_id: int) -> None:
        self.token_ids.append(token_id)
        self.output_counts[token_id] += 1
