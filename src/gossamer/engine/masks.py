"""Allowed-token bitmasks of a step's constrained sequences, computed while the model runs.

A grammar's mask costs tens of microseconds per sequence (llguidance, GIL released), the forward
pass milliseconds: the masks are filled on a worker thread started before the forward pass and
collected after it (as vLLM and SGLang overlap them), so a constrained step costs little more
than an unconstrained one. A step with no constrained sequence starts nothing.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import torch

from gossamer.engine.scheduler import ScheduledSeq


class MaskFiller:
    def __init__(self, vocab_size: int) -> None:
        self.num_words = (vocab_size + 31) // 32
        self._pool: ThreadPoolExecutor | None = None

    def start(self, batch: list[ScheduledSeq]) -> Future[dict[int, torch.Tensor]] | None:
        """Begin filling the masks of the items that sample and carry a constraint."""
        items = [item for item in batch if item.samples and item.seq.constraint is not None]
        if not items:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gossamer-masks")
        return self._pool.submit(self._fill, items)

    def _fill(self, items: list[ScheduledSeq]) -> dict[int, torch.Tensor]:
        masks = torch.empty(len(items), self.num_words, dtype=torch.int32)  # [C, ceil(V / 32)]
        for i, item in enumerate(items):
            item.seq.constraint.fill_bitmask(masks[i])
        return {item.seq.seq_id: masks[i] for i, item in enumerate(items)}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
