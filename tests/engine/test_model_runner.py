"""Attention in the engine: the padded torch batch and the CPU paged kernel both equal the reference."""

from __future__ import annotations

import pytest
import torch

import gossamer.engine.paged_attention as paged
from gossamer import kernels
from gossamer.engine.paged_attention import _decode_attention
from gossamer.engine.protocol import SamplingParams
from gossamer.model.attention import attention_with_sinks
from tests.engine.conftest import prompts


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


def test_cpu_steps_go_through_the_paged_kernel_and_agree_with_torch(model, make_engine, monkeypatch):
    """On the CPU every layer of every step (prefill and decode) takes kernels.paged_attention once."""
    if not kernels.available():
        pytest.skip(f"CPU kernels unavailable: {kernels.unavailable_reason()}")

    def run(engine) -> list[list[float]]:  # per request: the chosen tokens' logprobs
        for i, prompt in enumerate(prompts([30, 12, 21])):
            engine.add_request(str(i), prompt, SamplingParams(temperature=0.0, max_tokens=6, logprobs=3))
        chosen: dict[str, list[float]] = {}
        while engine.has_unfinished():
            for out in engine.step():
                chosen.setdefault(out.request_id, []).extend(entry.top[0][1] for entry in out.logprobs)
        return [chosen[key] for key in sorted(chosen)]

    calls = []
    real = kernels.paged_attention
    monkeypatch.setattr(paged.kernels, "paged_attention", lambda *a: calls.append(1) or real(*a))
    with_kernel = run(make_engine())
    assert calls  # the steps took the kernel
    monkeypatch.setattr(paged.kernels, "available", lambda: False)
    with_torch = run(make_engine())
    torch.testing.assert_close(torch.tensor(with_kernel), torch.tensor(with_torch), rtol=1e-4, atol=1e-4)
