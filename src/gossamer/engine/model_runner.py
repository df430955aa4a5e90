"""Run one engine step through the model: a batch of sequences packed as one flat token list.

The model is called once per step with every scheduled token (prefill chunks and decode tokens
together, "varlen"); only the attention differs per sequence, and that goes through
`PagedBackend`, which writes each layer's new K/V into the sequence's blocks and attends each
sequence's queries over the keys its block table points at. The unembedding runs only on the
rows whose next token is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gossamer import kernels
from gossamer.engine.kv_cache import KVCache
from gossamer.engine.scheduler import ScheduledSeq
from gossamer.model.attention import attention_with_sinks, causal_mask


@dataclass(frozen=True)
class _SeqView:
    """Where one sequence's queries sit in the flat batch and which cache slots hold its keys."""

    query_start: int  # row of its first query token in the flat batch
    query_stop: int
    full_key_slots: torch.Tensor | None  # [M_full] slots of positions 0 .. last query
    full_mask: torch.Tensor | None  # [N_seq, M_full] bool
    sliding_key_slots: torch.Tensor | None  # [M_win] slots of the positions the window can reach
    sliding_mask: torch.Tensor | None  # [N_seq, M_win] bool


def _slots(block_table: list[int | None], start: int, stop: int, block_size: int) -> torch.Tensor:
    """Cache slots of positions start .. stop - 1 through a block table: [stop - start] long."""
    first_block, last_block = start // block_size, (stop - 1) // block_size
    block_ids = block_table[first_block : last_block + 1]
    assert None not in block_ids, f"positions {start}..{stop - 1} reach a released block"
    positions = torch.arange(start, stop)  # [n]
    table = torch.tensor(block_ids, dtype=torch.long)  # [blocks]
    return table[positions // block_size - first_block] * block_size + positions % block_size  # [n]


_MAX_PADDED_ELEMENTS = 1 << 25  # 32 M key elements (64 MiB in bf16) per gathered tensor


def _pad(views: list[tuple[torch.Tensor | None, torch.Tensor | None]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence key slots [M_s] and one-query masks [1, M_s] -> padded [S, M_max] slots and mask."""
    width = max(slots.shape[0] for slots, _ in views)  # type: ignore[union-attr]
    device = views[0][0].device  # type: ignore[union-attr]
    slots = torch.zeros((len(views), width), dtype=torch.long, device=device)  # [S, M_max]; pad: slot 0
    mask = torch.zeros((len(views), width), dtype=torch.bool, device=device)  # [S, M_max]; pad: hidden
    for i, (seq_slots, seq_mask) in enumerate(views):
        slots[i, : seq_slots.shape[0]] = seq_slots  # type: ignore[union-attr]
        mask[i, : seq_mask.shape[1]] = seq_mask[0]  # type: ignore[index]
    return slots, mask


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


class PagedBackend:
    """AttentionBackend over the paged KV cache for one step's batch (see gossamer/model/backend.py)."""

    def __init__(self, cache: KVCache, batch: list[ScheduledSeq], sliding_window: int | None) -> None:
        self.cache = cache
        block_size = cache.block_size
        device = cache.full_k.device
        layout = cache.layout
        has_full, has_sliding = bool(layout.full_layers), bool(layout.sliding_layers)
        full_write: list[torch.Tensor] = []
        sliding_write: list[torch.Tensor] = []
        self.views: list[_SeqView] = []
        row = 0
        for item in batch:
            seq, start, stop = item.seq, item.start, item.start + item.num_tokens
            query_positions = torch.arange(start, stop, device=device)  # [N_seq]
            full_slots = full_mask = sliding_slots = sliding_mask = None
            if has_full:
                full_write.append(_slots(seq.full_block_table, start, stop, block_size))
                full_slots = _slots(seq.full_block_table, 0, stop, block_size).to(device)
                full_mask = causal_mask(query_positions, torch.arange(0, stop, device=device), None)
            if has_sliding:
                assert sliding_window is not None
                sliding_write.append(_slots(seq.sliding_block_table, start, stop, block_size))
                first = max(0, start - sliding_window + 1)  # the earliest key the first query sees
                sliding_slots = _slots(seq.sliding_block_table, first, stop, block_size).to(device)
                sliding_mask = causal_mask(query_positions, torch.arange(first, stop, device=device),
                                           sliding_window)
            self.views.append(_SeqView(row, row + item.num_tokens, full_slots, full_mask,
                                       sliding_slots, sliding_mask))
            row += item.num_tokens
        # On the CPU a sequence's single query (decode) goes through the attention kernel over its
        # gathered keys (all visible to it); elsewhere decode-only steps (the steady state) attend
        # all sequences in one padded call per layer, unless the padded key copy
        # [S, M_max, KV, D] would be large (long contexts): then per sequence.
        self.use_kernel = device.type == "cpu" and kernels.available()
        self.padded: dict[bool, tuple[torch.Tensor, torch.Tensor]] = {}
        num_kv_elements = cache.full_k.shape[-2] * cache.full_k.shape[-1]
        max_keys = max((item.start + 1 for item in batch), default=0)
        if (not self.use_kernel and len(batch) > 1 and all(item.num_tokens == 1 for item in batch)
                and len(batch) * max_keys * num_kv_elements <= _MAX_PADDED_ELEMENTS):
            if has_full:
                self.padded[False] = _pad([(v.full_key_slots, v.full_mask) for v in self.views])
            if has_sliding:
                self.padded[True] = _pad([(v.sliding_key_slots, v.sliding_mask) for v in self.views])
        empty = torch.empty(0, dtype=torch.long)
        self.full_write = torch.cat(full_write or [empty]).to(device)  # [N]
        self.sliding_write = torch.cat(sliding_write or [empty]).to(device)  # [N]

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
        write = self.sliding_write if is_sliding else self.full_write
        cache_k.index_copy_(0, write, k.to(cache_k.dtype))
        cache_v.index_copy_(0, write, v.to(cache_v.dtype))
        if is_sliding in self.padded:
            slots, mask = self.padded[is_sliding]  # [S, M_max], [S, M_max]
            return _decode_attention(q, cache_k[slots], cache_v[slots], sinks, mask)
        out = torch.empty_like(q)
        for view in self.views:
            slots = view.sliding_key_slots if is_sliding else view.full_key_slots
            mask = view.sliding_mask if is_sliding else view.full_mask
            a, b = view.query_start, view.query_stop
            if (b - a == 1 and self.use_kernel
                    and kernels.attention_decode_preferred(q[a:b], cache_k, slots.shape[0])):
                # One query sees every gathered key (the slots stop at its own position).
                out[a:b] = kernels.attention_decode(q[a:b], cache_k[slots], cache_v[slots], sinks)
            else:
                out[a:b] = attention_with_sinks(q[a:b], cache_k[slots], cache_v[slots], sinks, mask)
        return out


class ModelRunner:
    def __init__(self, model: torch.nn.Module, cache: KVCache) -> None:
        self.model = model
        self.cache = cache
        self.device = cache.full_k.device
        self.sliding_window = cache.layout.sliding_window

    @torch.inference_mode()
    def run(self, batch: list[ScheduledSeq]) -> torch.Tensor:
        """Compute every scheduled token; return float32 logits [M, vocab] for the sampling rows,
        in batch order of the items whose `samples` is true."""
        input_ids: list[int] = []
        positions: list[int] = []
        sample_rows: list[int] = []
        for item in batch:
            input_ids += item.seq.token_ids[item.start : item.start + item.num_tokens]
            positions += range(item.start, item.start + item.num_tokens)
            if item.samples:
                sample_rows.append(len(input_ids) - 1)
        backend = PagedBackend(self.cache, batch, self.sliding_window)
        ids = torch.tensor(input_ids, dtype=torch.long, device=self.device)  # [N]
        pos = torch.tensor(positions, dtype=torch.long, device=self.device)  # [N]
        hidden = self.model(ids, pos, backend)  # [N, hidden]
        rows = torch.tensor(sample_rows, dtype=torch.long, device=self.device)  # [M]
        return self.model.compute_logits(hidden[rows])  # [M, vocab] float32
