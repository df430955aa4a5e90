"""The batched decode attention is attention_with_sinks, one sequence at a time."""

from __future__ import annotations

import torch

from gossamer.engine.model_runner import _decode_attention
from gossamer.model.attention import attention_with_sinks


def test_padded_decode_attention_matches_the_reference_per_sequence():
    torch.manual_seed(0)
    lengths = [3, 9, 1, 12, 7]
    num_seqs, num_heads, num_kv_heads, head_dim, width = len(lengths), 8, 2, 16, max(lengths)
    q = torch.randn(num_seqs, num_heads, head_dim)
    k = torch.randn(num_seqs, width, num_kv_heads, head_dim)
    v = torch.randn(num_seqs, width, num_kv_heads, head_dim)
    sinks = torch.randn(num_heads)
    mask = torch.zeros(num_seqs, width, dtype=torch.bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
        k[i, n:] = 1e4  # padding must not leak into the result
    out = _decode_attention(q, k, v, sinks, mask)
    for i, n in enumerate(lengths):
        visible = torch.ones(1, n, dtype=torch.bool)
        expected = attention_with_sinks(q[i : i + 1], k[i, :n], v[i, :n], sinks, visible)
        torch.testing.assert_close(out[i : i + 1], expected, rtol=1e-5, atol=1e-6)
