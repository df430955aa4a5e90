"""The int8-activation expert kernel (AVX512-VNNI), the CPU default for bf16 models.

It rounds each token's activations to int8 per 32-value block (scale = block max / 127) and
multiplies the MXFP4 weights exactly. The oracle below does the same rounding in torch and then
multiplies in float32, so the kernel must match it to float32 summation error: that checks the
layout, the offset correction, the scales and the tails. How far the rounding itself moves a
model is checked at the model level (tests/model/test_bf16.py).
"""

from __future__ import annotations

import pytest
import torch

from gossamer import kernels
from gossamer.model.mxfp4 import dequantize, quantize


def _experts(num_experts: int, rows: int, cols: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    weights = torch.randn(num_experts, rows, cols, generator=gen)  # [E, R, C]
    blocks, scales = quantize(weights)  # [E, R, C/32, 16], [E, R, C/32]
    bias = torch.randn(num_experts, rows, generator=gen).bfloat16()  # [E, R]
    return blocks, scales, bias, gen


def _int8_rounded(x: torch.Tensor) -> torch.Tensor:  # [..., C] bf16 -> float32, as the kernel sees it
    # In float64 and then rounded: exactly IEEE float32 division and product, as the C code does
    # (torch's float32 kernels may divide through a reciprocal and land one unit away).
    blocks = x.double().unflatten(-1, (-1, 32))  # [..., C/32, 32]
    amax = blocks.abs().amax(-1, keepdim=True)  # [..., C/32, 1]
    inv = torch.where(amax > 0, 127.0 / amax, torch.zeros_like(amax)).float().double()
    q = torch.round((blocks * inv).float())  # half to even, like lrintf
    return (q.double() * (amax / 127.0)).float().flatten(-2)  # [..., C]


def _oracle(x, blocks, scales, bias, expert_ids):  # x [K, N, C] -> [K, N, R]
    outs = []
    for k, e in enumerate(expert_ids.tolist()):
        w = dequantize(blocks[e], scales[e], torch.float32)  # [R, C]
        outs.append(_int8_rounded(x[k]) @ w.T + bias[e].float())
    return torch.stack(outs)


@pytest.mark.parametrize(
    ("rows", "cols", "num_tokens"),
    # 301 rows: at decode (up to 3 tokens) each thread item spans a quarter of the rows or more,
    # with a ragged last item.
    [(1, 32, 1), (5, 64, 2), (37, 96, 3), (33, 2880, 1), (67, 288, 4), (45, 224, 9), (9, 2880, 33),
     (301, 288, 1), (301, 64, 3)],
)
def test_matches_the_int8_rounded_oracle(int8_experts, rows, cols, num_tokens):
    blocks, scales, bias, gen = _experts(4, rows, cols, seed=rows * 3 + cols)
    x = (torch.randn(3, num_tokens, cols, generator=gen) * 3).bfloat16()  # [K, N, C]
    x[0, 0, : min(cols, 64)] = 0  # all-zero blocks have scale 0
    expert_ids = torch.tensor([3, 0, 3])
    got = kernels.mxfp4_experts(x, blocks, scales, bias, expert_ids)  # [K, N, R]
    want = _oracle(x, blocks, scales, bias, expert_ids)
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item() + 1e-5


def test_rounding_error_is_small_against_exact_products(int8_experts):
    """At the 20b expert width, the int8 rounding moves outputs by about 0.5% of their norm."""
    blocks, scales, bias, gen = _experts(2, 64, 2880, seed=1)
    x = torch.randn(2, 3, 2880, generator=gen).bfloat16()  # [K, N, C]
    got = kernels.mxfp4_experts(x, blocks, scales, bias, torch.tensor([1, 0]))
    exact = torch.stack([x[k].float() @ dequantize(blocks[e], scales[e], torch.float32).T + bias[e].float()
                         for k, e in enumerate([1, 0])])
    assert ((got - exact).norm() / exact.norm()).item() < 0.01


def test_a_tokens_result_does_not_depend_on_its_batch(int8_experts):
    """Each token is rounded on its own and summed in the same order, so batching is invisible."""
    blocks, scales, bias, gen = _experts(3, 50, 2880, seed=2)
    x = torch.randn(7, 2880, generator=gen).bfloat16()  # [N, C]
    together = kernels.mxfp4_experts(x, blocks, scales, bias, torch.tensor([2]))[0]  # [N, R]
    for n in range(7):
        alone = kernels.mxfp4_experts(x[n : n + 1], blocks, scales, bias, torch.tensor([2]))[0]
        assert torch.equal(alone[0], together[n]), n


def test_extreme_scales_and_every_code(int8_experts):
    codes = torch.arange(256, dtype=torch.uint8)
    blocks = codes.reshape(1, 16, 1, 16).repeat(1, 1, 2, 1)  # [1, 16 rows, 2 blocks, 16]
    scales = torch.arange(107, 107 + 32, dtype=torch.uint8).reshape(1, 16, 2)  # 2**-20 .. 2**11
    for col in range(64):
        onehot = torch.zeros(1, 64, dtype=torch.bfloat16)
        onehot[0, col] = 1.0  # rounds to exactly 127 * (1 / 127): one decoded weight per row
        got = kernels.mxfp4_experts(onehot, blocks, scales, None, torch.tensor([0]))[0, 0]  # [16]
        want = dequantize(blocks[0], scales[0], torch.float32)[:, col]  # [16]
        torch.testing.assert_close(got, want, rtol=1e-6, atol=0)


def test_float32_activations_and_narrow_isas_stay_exact(int8_experts, use_isa):
    blocks, scales, _, gen = _experts(2, 20, 64, seed=3)
    x = torch.randn(2, 64, generator=gen)  # float32: the exact kernel, whatever the setting
    got = kernels.mxfp4_experts(x, blocks, scales, None, torch.tensor([1]))[0]
    want = x @ dequantize(blocks[1], scales[1], torch.float32).T  # [N, R]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    use_isa("avx2")
    assert kernels.experts_precision() == "exact"
    xb = x.bfloat16()
    got = kernels.mxfp4_experts(xb, blocks, scales, None, torch.tensor([1]))[0]
    torch.testing.assert_close(got, xb.float() @ dequantize(blocks[1], scales[1], torch.float32).T,
                               rtol=1e-5, atol=1e-5)


def test_unknown_precision_is_refused(isas):
    with pytest.raises(ValueError, match="int8"):
        kernels.set_experts_precision("fp8")
