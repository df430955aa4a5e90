"""Run one engine step through the model: the whole batch as one flat token list.

The model is called once per step with every scheduled row (prefill chunks, decode tokens and
draft tokens together); only attention differs per sequence, and `PagedBackend` handles that
for the whole batch in one call per layer. The unembedding runs only on the rows whose next-token
logits the step needs.
"""

from __future__ import annotations

import torch

from gossamer.engine.kv_cache import KVCache
from gossamer.engine.paged_attention import PagedBackend
from gossamer.engine.scheduler import ScheduledSeq
from gossamer.engine.step_inputs import prepare_step


class ModelRunner:
    def __init__(self, model: torch.nn.Module, cache: KVCache) -> None:
        self.model = model
        self.cache = cache
        self.device = cache.full_k.device
        self.has_full = bool(cache.layout.full_layers)
        self.has_sliding = bool(cache.layout.sliding_layers)

    @torch.inference_mode()
    def run(self, batch: list[ScheduledSeq]) -> torch.Tensor:
        """Compute every scheduled row; return float32 logits [R, vocab]: for each item that samples,
        in batch order, its last confirmed token's row and then one row per draft token."""
        step = prepare_step(batch, self.cache.block_size, has_full=self.has_full,
                            has_sliding=self.has_sliding, device=self.device)
        hidden = self.model(step.input_ids, step.positions, PagedBackend(self.cache, step))  # [N, hidden]
        return self.model.compute_logits(hidden[step.logits_rows])  # [R, vocab] float32
