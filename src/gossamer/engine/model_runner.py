"""Run one engine step through the model: the whole batch as one flat token list.

The model is called once per step with every scheduled row (prefill chunks, decode tokens and
draft tokens together); only attention differs per sequence, and `PagedBackend` handles that
for the whole batch in one call per layer. The unembedding runs only on the rows whose next-token
logits the step needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from gossamer import kernels
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
        self.cpu_kernels = self.device.type == "cpu" and kernels.available()

    @torch.inference_mode()
    def run(self, batch: list[ScheduledSeq]) -> torch.Tensor:
        """Compute every scheduled row; return float32 logits [R, vocab]: for each item that samples,
        in batch order, its last confirmed token's row and then one row per draft token."""
        with self.torch_on_one_thread():
            step = prepare_step(batch, self.cache.block_size, has_full=self.has_full,
                                has_sliding=self.has_sliding, device=self.device)
            hidden = self.model(step.input_ids, step.positions, PagedBackend(self.cache, step))  # [N, hidden]
            return self.model.compute_logits(hidden[step.logits_rows])  # [R, vocab] float32

    @contextmanager
    def torch_on_one_thread(self) -> Iterator[None]:
        """On the CPU the kernels keep every thread and torch's own operations run on one.

        Between kernel calls a step does a hundred small torch operations (adds, casts, the final
        norm on [N, hidden]); each forks and joins torch's threads, and on a busy host the join
        waits for a time slice: one [16, 2880] add took 10 ms on two threads and 0.05 ms on one,
        measured on this project's shared 2-core machine under load."""
        threads = torch.get_num_threads()
        if not self.cpu_kernels or threads == 1:
            yield
            return
        kernels.set_num_threads(threads)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            kernels.set_num_threads(None)
