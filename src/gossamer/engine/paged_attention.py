"""The engine's AttentionBackend: each layer writes the step's K/V into the paged cache and
attends every query of the batch over its own sequence's keys.

On the CPU (float32 or bf16) that is one kernel call per layer for the whole batch
(kernels.paged_attention: block tables walked in C, sinks and the sliding window honoured, no
score matrix beyond one query's row). Elsewhere (CUDA, float16, kernels off) torch computes it:
decode-only steps as one padded batch, other steps sequence by sequence over gathered keys.
"""

from __future__ import annotations

import torch

from gossamer import kernels
from gossamer.engine.kv_cache import KVCache
from gossamer.engine.step_inputs import StepInputs
from gossamer.model.attention import attention_with_sinks, causal_mask

_MAX_PADDED_ELEMENTS = 1 << 25  # 32 M key elements (64 MiB in bf16) per gathered tensor


def _decode_attention(
    q: torch.Tensor,  # [S, H, D], one query per sequence
    k: torch.Tensor,  # [S, M, KV, D]
    v: torch.Tensor,  # [S, M, KV, D]
    sinks: torch.Tensor,  # [H]
    mask: torch.Tensor,  # [S, M] bool
) -> torch.Tensor:  # [S, H, D]
    """attention_with_sinks (gossamer/model/attention.py) batched over sequences of one query each."""
    num_seqs, num_heads, head_dim = q.shape
    num_kv_heads = k.shape[2]
    group = num_heads // num_kv_heads
    qf = q.float().view(num_seqs, num_kv_heads, group, head_dim)  # [S, KV, G, D]
    scores = torch.einsum("skgd,smkd->skgm", qf, k.float()) * head_dim**-0.5  # [S, KV, G, M]
    scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    sink = sinks.float().view(1, num_kv_heads, group, 1).expand(num_seqs, -1, -1, -1)  # [S, KV, G, 1]
    probs = torch.softmax(torch.cat((scores, sink), dim=-1), dim=-1)[..., :-1]  # [S, KV, G, M]
    ctx = torch.einsum("skgm,smkd->skgd", probs, v.float())  # [S, KV, G, D]
    return ctx.reshape(num_seqs, num_heads, head_dim).to(q.dtype)


class _TorchKeys:
    """Per sequence, the cache slots and causal mask of the keys its queries see (torch path)."""

    def __init__(self, step: StepInputs, tables: torch.Tensor, block_size: int, window: int | None) -> None:
        self.views: list[tuple[int, int, torch.Tensor, torch.Tensor]] = []  # (row0, row1, slots, mask)
        starts, lens = step.query_start.tolist(), step.seq_lens.tolist()
        for s, length in enumerate(lens):
            row0, row1 = starts[s], starts[s + 1]
            first_query = length - (row1 - row0)
            first_key = 0 if window is None else max(0, first_query - window + 1)
            positions = torch.arange(first_key, length, device=tables.device)  # [M]
            slots = tables[s].long()[positions // block_size] * block_size + positions % block_size  # [M]
            queries = torch.arange(first_query, length, device=tables.device)  # [n]
            self.views.append((row0, row1, slots, causal_mask(queries, positions, window)))
        self.padded: tuple[torch.Tensor, torch.Tensor] | None = None

    def pad(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode-only steps: slots [S, M_max] and mask [S, M_max], padding hidden (slot 0)."""
        if self.padded is None:
            width = max(slots.shape[0] for _, _, slots, _ in self.views)
            device = self.views[0][2].device
            slots = torch.zeros((len(self.views), width), dtype=torch.long, device=device)  # [S, M_max]
            mask = torch.zeros((len(self.views), width), dtype=torch.bool, device=device)  # [S, M_max]
            for i, (_, _, seq_slots, seq_mask) in enumerate(self.views):
                slots[i, : seq_slots.shape[0]] = seq_slots
                mask[i, : seq_slots.shape[0]] = seq_mask[0]
            self.padded = slots, mask
        return self.padded


class PagedBackend:
    """AttentionBackend over the paged KV cache for one step (see gossamer/model/backend.py)."""

    def __init__(self, cache: KVCache, step: StepInputs) -> None:
        self.cache = cache
        self.step = step
        device = cache.full_k.device
        self.use_kernel = (device.type == "cpu" and cache.full_k.dtype in (torch.float32, torch.bfloat16)
                           and kernels.available())
        self._torch_keys: dict[bool, _TorchKeys] = {}

    def attend(
        self,
        layer: int,
        q: torch.Tensor,  # [N, H, D]
        k: torch.Tensor,  # [N, KV, D]
        v: torch.Tensor,  # [N, KV, D]
        sinks: torch.Tensor,  # [H]
        sliding_window: int | None,
    ) -> torch.Tensor:  # [N, H, D]
        is_sliding, cache_k, cache_v = self.cache.layer_tensors(layer)  # [num_slots, KV, D] each
        assert is_sliding == (sliding_window is not None), f"layer {layer}: cache group mismatch"
        step = self.step
        tables = step.sliding_block_tables if is_sliding else step.full_block_tables
        slots = step.sliding_slot_mapping if is_sliding else step.full_slot_mapping
        assert tables is not None and slots is not None
        cache_k.index_copy_(0, slots, k.to(cache_k.dtype))
        cache_v.index_copy_(0, slots, v.to(cache_v.dtype))
        if self.use_kernel:
            return kernels.paged_attention(q, cache_k, cache_v, tables, self.cache.block_size,
                                           step.query_start, step.seq_lens, sinks.float(), sliding_window)
        return self._attend_torch(is_sliding, q, cache_k, cache_v, tables, sinks, sliding_window)

    def _attend_torch(self, is_sliding: bool, q: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor,
                      tables: torch.Tensor, sinks: torch.Tensor, window: int | None) -> torch.Tensor:
        keys = self._torch_keys.get(is_sliding)
        if keys is None:
            keys = self._torch_keys[is_sliding] = _TorchKeys(self.step, tables, self.cache.block_size, window)
        num_seqs = self.step.num_seqs
        max_keys = max(slots.shape[0] for _, _, slots, _ in keys.views)
        if (q.shape[0] == num_seqs > 1
                and num_seqs * max_keys * cache_k.shape[1] * cache_k.shape[2] <= _MAX_PADDED_ELEMENTS):
            slots, mask = keys.pad()  # [S, M_max] each
            return _decode_attention(q, cache_k[slots], cache_v[slots], sinks, mask)
        out = torch.empty_like(q)
        for row0, row1, slots, mask in keys.views:
            out[row0:row1] = attention_with_sinks(q[row0:row1], cache_k[slots], cache_v[slots], sinks, mask)
        return out
