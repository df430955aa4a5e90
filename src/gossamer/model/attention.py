"""Attention with sinks: the reference math and the two single-sequence backends.

gpt-oss gives every head a learned "sink" logit that joins the softmax denominator as one extra
column with no value vector, so a head can attend to nothing. Query heads share KV heads (GQA):
query head h reads KV head h // (num_heads // num_kv_heads).
"""

from __future__ import annotations

import torch

from gossamer import kernels

# Score elements materialized at once (float32): queries are processed in chunks so the scores
# stay [chunk, heads, keys] (~256 MB) instead of [N, heads, keys] on long prefills.
_MAX_SCORE_ELEMENTS = 1 << 26


def causal_mask(
    query_positions: torch.Tensor, key_positions: torch.Tensor, sliding_window: int | None
) -> torch.Tensor:
    """[N] and [M] positions -> [N, M] bool, True where the key is visible to the query.

    A sliding window of W lets query i see keys i-W+1 .. i (W keys including itself), the
    convention of both the reference implementation and transformers.
    """
    delta = query_positions[:, None] - key_positions[None, :]  # [N, M]
    visible = delta >= 0
    if sliding_window is not None:
        visible &= delta < sliding_window
    return visible


def attention_with_sinks(
    q: torch.Tensor,  # [N, H, D]
    k: torch.Tensor,  # [M, KV, D]
    v: torch.Tensor,  # [M, KV, D]
    sinks: torch.Tensor,  # [H]
    mask: torch.Tensor,  # [N, M] bool
) -> torch.Tensor:  # [N, H, D]
    num_tokens, num_heads, head_dim = q.shape
    num_keys, num_kv_heads, _ = k.shape
    assert v.shape == k.shape and k.shape[2] == head_dim, (q.shape, k.shape, v.shape)
    assert mask.shape == (num_tokens, num_keys), (mask.shape, num_tokens, num_keys)
    assert sinks.shape == (num_heads,), sinks.shape
    group = num_heads // num_kv_heads
    scale = head_dim**-0.5
    # Scores and softmax in float32 whatever the model dtype: bf16 logits lose the sink's effect.
    kf = k.float()  # [M, KV, D]
    vf = v.float()  # [M, KV, D]
    sink_logits = sinks.float().view(1, num_kv_heads, group, 1)  # [1, KV, G, 1]
    out = torch.empty_like(q)
    chunk = max(1, _MAX_SCORE_ELEMENTS // max(num_heads * num_keys, 1))
    for start in range(0, num_tokens, chunk):
        stop = min(start + chunk, num_tokens)
        qc = q[start:stop].float().view(stop - start, num_kv_heads, group, head_dim)  # [n, KV, G, D]
        scores = torch.einsum("nkgd,mkd->nkgm", qc, kf) * scale  # [n, KV, G, M]
        scores = scores.masked_fill(~mask[start:stop, None, None, :], float("-inf"))
        # The sink is not scaled by 1/sqrt(D): it is a logit in its own right.
        sink = sink_logits.expand(stop - start, -1, -1, -1)  # [n, KV, G, 1]
        probs = torch.softmax(torch.cat((scores, sink), dim=-1), dim=-1)[..., :-1]  # [n, KV, G, M]
        ctx = torch.einsum("nkgm,mkd->nkgd", probs, vf)  # [n, KV, G, D]
        out[start:stop] = ctx.reshape(stop - start, num_heads, head_dim).to(q.dtype)
    return out


class FullSequenceBackend:
    """Attends a whole sequence at once (no cache): the readable reference path.

    One instance serves one forward pass of one sequence; `positions` are those passed to the model.
    """

    def __init__(self, positions: torch.Tensor) -> None:
        self.positions = positions  # [N]
        self._masks: dict[int | None, torch.Tensor] = {}

    def attend(
        self,
        layer: int,
        q: torch.Tensor,  # [N, H, D]
        k: torch.Tensor,  # [N, KV, D]
        v: torch.Tensor,  # [N, KV, D]
        sinks: torch.Tensor,  # [H]
        sliding_window: int | None,
    ) -> torch.Tensor:  # [N, H, D]
        mask = self._masks.get(sliding_window)
        if mask is None:
            mask = causal_mask(self.positions, self.positions, sliding_window)  # [N, N]
            self._masks[sliding_window] = mask
        return attention_with_sinks(q, k, v, sinks, mask)


class ContiguousKVCache:
    """KV cache of one sequence, in contiguous per-layer tensors: prefill a chunk, then decode.

    Each forward pass appends its tokens, which must continue the sequence (positions
    num_cached .. num_cached + N - 1). Sliding layers keep only the last `sliding_window`
    positions, so their memory stays bounded on long sequences.
    """

    def __init__(self, num_layers: int, initial_capacity: int = 256) -> None:
        self.num_layers = num_layers
        self.initial_capacity = initial_capacity
        self._k: list[torch.Tensor | None] = [None] * num_layers  # [capacity, KV, D] each
        self._v: list[torch.Tensor | None] = [None] * num_layers
        self._first_position = [0] * num_layers  # position of row 0 (sliding layers drop old rows)
        self._length = [0] * num_layers  # rows in use

    @property
    def num_cached(self) -> int:
        """Tokens of the sequence seen so far (by the last layer, i.e. after a full forward pass)."""
        return self._first_position[-1] + self._length[-1]

    def attend(
        self,
        layer: int,
        q: torch.Tensor,  # [N, H, D]
        k: torch.Tensor,  # [N, KV, D]
        v: torch.Tensor,  # [N, KV, D]
        sinks: torch.Tensor,  # [H]
        sliding_window: int | None,
    ) -> torch.Tensor:  # [N, H, D]
        num_new = q.shape[0]
        start = self._first_position[layer] + self._length[layer]  # position of the first new token
        self._append(layer, k, v, sliding_window)
        length = self._length[layer]
        keys = self._k[layer][:length]  # [M, KV, D]
        values = self._v[layer][:length]  # [M, KV, D]
        first = 0 if sliding_window is None else max(0, length - sliding_window)
        if (num_new == 1 and q.device.type == "cpu" and kernels.available()
                and kernels.attention_decode_preferred(q, keys, length - first)):
            # Decode on the CPU: the kernel attends over just the visible rows (the window's last W).
            out = kernels.attention_decode(q, keys[first:], values[first:], sinks)  # [1, H, D]
        else:
            device = q.device
            query_positions = torch.arange(start, start + num_new, device=device)  # [N]
            key_positions = torch.arange(length, device=device) + self._first_position[layer]  # [M]
            mask = causal_mask(query_positions, key_positions, sliding_window)  # [N, M]
            out = attention_with_sinks(q, keys, values, sinks, mask)
        if sliding_window is not None:
            self._trim(layer, keep=sliding_window - 1)  # the next query needs W-1 past keys
        return out

    def _append(self, layer: int, k: torch.Tensor, v: torch.Tensor, sliding_window: int | None) -> None:
        num_new = k.shape[0]
        length = self._length[layer]
        cache_k = self._k[layer]
        if cache_k is None or length + num_new > cache_k.shape[0]:
            capacity = max(self.initial_capacity, 2 * (length + num_new))
            grown_k = k.new_empty((capacity, *k.shape[1:]))  # [capacity, KV, D]
            grown_v = v.new_empty((capacity, *v.shape[1:]))
            if cache_k is not None:
                grown_k[:length] = cache_k[:length]
                grown_v[:length] = self._v[layer][:length]
            self._k[layer], self._v[layer] = grown_k, grown_v
        self._k[layer][length : length + num_new] = k
        self._v[layer][length : length + num_new] = v
        self._length[layer] = length + num_new

    def _trim(self, layer: int, keep: int) -> None:
        length = self._length[layer]
        drop = length - keep
        # Shift only once the dead prefix is large, so decode does not copy the window every step.
        if drop <= 0 or drop < max(keep, 64):
            return
        k, v = self._k[layer], self._v[layer]
        k[:keep] = k[drop:length].clone()
        v[:keep] = v[drop:length].clone()
        self._first_position[layer] += drop
        self._length[layer] = keep
