"""The reference attention math against a direct per-head loop, and the sink's meaning."""

from __future__ import annotations

import dataclasses
import math

import torch

from gossamer.model.attention import ContiguousKVCache, FullSequenceBackend, attention_with_sinks, causal_mask
from gossamer.model.config import PRESETS
from gossamer.model.mxfp4 import FP4_VALUES, dequantize, quantize
from gossamer.model.rope import yarn_inv_freq


def naive(q, k, v, sinks, mask):
    num_tokens, num_heads, head_dim = q.shape
    group = num_heads // k.shape[1]
    out = torch.zeros_like(q)
    for h in range(num_heads):
        for i in range(num_tokens):
            keys = [j for j in range(k.shape[0]) if mask[i, j]]
            logits = [float(q[i, h] @ k[j, h // group]) / math.sqrt(head_dim) for j in keys]
            weights = torch.softmax(torch.tensor([*logits, float(sinks[h])], dtype=torch.float64), 0)[:-1]
            for w, j in zip(weights, keys, strict=True):
                out[i, h] += float(w) * v[j, h // group]
    return out


def test_matches_a_direct_loop_with_gqa_window_and_sinks():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(n, h, 8, generator=g) for n, h in ((6, 4), (9, 2), (9, 2)))
    sinks = torch.randn(4, generator=g)
    mask = causal_mask(torch.arange(3, 9), torch.arange(9), sliding_window=4)  # queries at positions 3..8
    assert mask.sum(1).tolist() == [4] * 6
    assert torch.allclose(attention_with_sinks(q, k, v, sinks, mask), naive(q, k, v, sinks, mask), atol=1e-5)


def test_a_large_sink_silences_the_head_and_a_tiny_one_vanishes():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(3, heads, 4, generator=g) for heads in (2, 1, 1))
    mask = causal_mask(torch.arange(3), torch.arange(3), None)
    silenced = attention_with_sinks(q, k, v, torch.tensor([50.0, 50.0]), mask)
    assert silenced.abs().max() < 1e-12
    plain = attention_with_sinks(q, k, v, torch.tensor([-1e4, -1e4]), mask)
    scores = torch.einsum("nhd,mhd->hnm", q, k.expand(3, 2, 4)) / 2
    probs = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
    assert torch.allclose(plain, torch.einsum("hnm,mhd->nhd", probs, v.expand(3, 2, 4)), atol=1e-6)


def test_backends_agree_on_one_layer():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(40, heads, 8, generator=g) for heads in (4, 2, 2))
    sinks = torch.randn(4, generator=g)
    for window in (None, 5):
        full = FullSequenceBackend(torch.arange(40)).attend(0, q, k, v, sinks, window)
        cache = ContiguousKVCache(num_layers=1, initial_capacity=2)
        steps = [cache.attend(0, q[:7], k[:7], v[:7], sinks, window)]
        for i in range(7, 40):
            steps.append(cache.attend(0, q[i : i + 1], k[i : i + 1], v[i : i + 1], sinks, window))
        assert torch.allclose(torch.cat(steps), full, atol=1e-6)


def test_mxfp4_codes_and_round_trip():
    blocks = torch.tensor([[[0x21] + [0] * 15]], dtype=torch.uint8)  # low nibble 1 (0.5), high 2 (1.0)
    scales = torch.tensor([[128]], dtype=torch.uint8)  # x 2
    values = dequantize(blocks, scales, torch.float32)
    assert values.shape == (1, 32) and values[0, :2].tolist() == [1.0, 2.0] and values[0, 2:].abs().sum() == 0
    w = torch.randn(3, 64, generator=torch.Generator().manual_seed(3))
    blocks, scales = quantize(w)  # [3, 2, 16], [3, 2]
    back = dequantize(blocks, scales, torch.float32)  # [3, 64]
    codes = back.reshape(3, 2, 32) / torch.pow(2.0, scales.float() - 127).unsqueeze(-1)  # [3, 2, 32]
    assert set(codes.flatten().tolist()) <= set(FP4_VALUES)  # each block: one scale times E2M1 codes
    assert torch.equal(dequantize(*quantize(back), torch.float32), back)  # exact values stay exact
    assert ((back - w).abs() <= w.abs().amax() / 4 + 1e-6).all()


def test_yarn_frequencies_match_transformers():
    from transformers import GptOssConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    for truncate in (False, True):
        config = PRESETS["20b"]
        raw = config.to_hf_json()
        raw["rope_scaling"]["truncate"] = truncate
        hf = GptOssConfig(**{k: v for k, v in raw.items() if k not in ("architectures", "torch_dtype")})
        expected, scaling = ROPE_INIT_FUNCTIONS["yarn"](hf)
        ours, concentration = yarn_inv_freq(dataclasses.replace(config, rope_truncate=truncate))
        assert torch.equal(ours, expected) and concentration == scaling


def test_query_chunking_does_not_change_the_result(monkeypatch):
    import gossamer.model.attention as attention

    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(30, heads, 8, generator=g) for heads in (4, 2, 2))
    sinks = torch.randn(4, generator=g)
    mask = causal_mask(torch.arange(30), torch.arange(30), 7)
    whole = attention_with_sinks(q, k, v, sinks, mask)
    monkeypatch.setattr(attention, "_MAX_SCORE_ELEMENTS", 4 * 30 * 4)  # 4 query rows per chunk
    assert torch.equal(attention_with_sinks(q, k, v, sinks, mask), whole)
