"""Continuous batching: which sequences compute how many tokens this step.

One rule covers prefill and decode alike (as in vLLM v1): a sequence computes the tokens it has
that are not in the KV cache yet, as many as the step's token budget leaves. A decoding sequence
needs one (plus any draft tokens to verify); a long prompt is cut into chunks, so it never
freezes the other streams. Running sequences go first, in arrival order; then waiting ones are
admitted first-come-first-served (a waiting request that does not fit blocks the ones behind it,
so no one starves) up to `max_num_seqs`. When a running sequence cannot get a block, the newest
running sequence is preempted: its blocks are freed and it goes back to the front of the queue
to be recomputed (the prefix cache often gives most of it back).

On a CPU a step's time grows with its tokens (a 20b prefill runs at tens of tokens a second),
so while any sequence decodes, prompt chunks get at most `max_prefill_tokens_while_decoding`
tokens per step: new prompts still advance every step, and the running streams' inter-token
latency stays bounded instead of absorbing a whole 512-token chunk.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from gossamer.engine.block_manager import BlockManager
from gossamer.engine.sequence import Sequence, SequenceStatus


@dataclass(frozen=True)
class ScheduledSeq:
    seq: Sequence
    start: int  # first position computed this step
    num_tokens: int  # confirmed tokens computed: positions start .. start + num_tokens - 1
    # Speculative tokens after the sequence's last one, verified in this step (their logits rows
    # follow the last token's); only on a step that samples.
    draft_ids: tuple[int, ...] = ()

    @property
    def samples(self) -> bool:
        """Whether this step reaches the sequence's last token, so its next token gets sampled."""
        return self.start + self.num_tokens == self.seq.num_tokens


class Scheduler:
    def __init__(
        self, block_manager: BlockManager, *, max_num_seqs: int, max_num_batched_tokens: int,
        max_prefill_tokens_while_decoding: int | None = None,
    ) -> None:
        self.block_manager = block_manager
        self.max_num_seqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self.max_prefill_tokens_while_decoding = max_prefill_tokens_while_decoding or max_num_batched_tokens
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.num_preemptions = 0

    def add(self, seq: Sequence, front: bool = False) -> None:
        seq.status = SequenceStatus.WAITING
        if front:
            self.waiting.appendleft(seq)
        else:
            self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self) -> list[ScheduledSeq]:
        budget = self.max_num_batched_tokens
        decoding = any(s.num_tokens - s.num_computed_tokens == 1 for s in self.running)
        prefill_budget = self.max_prefill_tokens_while_decoding if decoding else budget
        batch: list[ScheduledSeq] = []
        preempted = False
        for seq in list(self.running):
            if budget == 0:
                break
            if seq.status is not SequenceStatus.RUNNING:
                continue  # preempted earlier in this loop
            num_new = min(seq.num_tokens - seq.num_computed_tokens, budget)
            if num_new > 1:  # a prompt chunk
                num_new = min(num_new, prefill_budget)
                if num_new == 0:
                    continue
                prefill_budget -= num_new
            while not self.block_manager.can_append(seq, num_new):
                victim = self.running[-1]
                self._preempt(victim)
                preempted = True
                if victim is seq:
                    break
            if seq.status is not SequenceStatus.RUNNING:
                continue
            drafts = self._drafts(seq, num_new, budget)
            batch.append(self._take(seq, num_new, drafts))
            budget -= num_new + len(drafts)

        # No admissions in a step that had to preempt: the cache is full.
        while not preempted and self.waiting and len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            hashes = self.block_manager.match_prefix(seq)
            num_cached = len(hashes) * self.block_manager.block_size
            num_new = min(seq.num_tokens - num_cached, budget, prefill_budget)
            if num_new == 0 or not self.block_manager.can_admit(seq, hashes, num_new):
                break
            self.waiting.popleft()
            self.block_manager.admit(seq, hashes)
            seq.status = SequenceStatus.RUNNING
            self.running.append(seq)
            batch.append(self._take(seq, num_new))
            budget -= num_new
            prefill_budget -= num_new
        return batch

    def _drafts(self, seq: Sequence, num_new: int, budget: int) -> tuple[int, ...]:
        """The draft tokens a decoding sequence verifies this step: what fits the budget and the
        cache (a draft never preempts anyone)."""
        if num_new != 1 or not seq.draft_ids:
            return ()
        drafts = seq.draft_ids[: budget - 1]
        while drafts and not self.block_manager.can_append(seq, 1 + len(drafts)):
            drafts = drafts[:-1]
        return drafts

    def _take(self, seq: Sequence, num_new: int, drafts: tuple[int, ...] = ()) -> ScheduledSeq:
        self.block_manager.allocate(seq, num_new + len(drafts))
        return ScheduledSeq(seq, seq.num_computed_tokens, num_new, drafts)

    def _preempt(self, seq: Sequence) -> None:
        seq.draft_ids = ()
        self.running.remove(seq)
        self.block_manager.free(seq)
        seq.num_preemptions += 1
        self.num_preemptions += 1
        self.add(seq, front=True)

    def on_computed(self, seq: Sequence, num_computed_tokens: int) -> None:
        """After a step: seq's first num_computed_tokens positions have their K/V in the cache."""
        seq.num_computed_tokens = num_computed_tokens
        self.block_manager.on_computed(seq)

    def remove(self, seq: Sequence) -> None:
        """Take a finished or aborted sequence out and free its blocks (the engine sets FINISHED)."""
        if seq in self.running:
            self.running.remove(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
        self.block_manager.free(seq)
