"""The MXFP4 expert kernel against the torch oracle: dequantize to float32, then matmul.

Tolerance: both sides multiply exactly (every MXFP4 value and every product with a float32
activation is exact before rounding), so they differ only in float32 summation order; over the
row lengths tested that stays far below the foundation's parity bound of 1e-3 max abs diff.
"""

from __future__ import annotations

import pytest
import torch

from gossamer import kernels
from gossamer.model.mxfp4 import dequantize, quantize

ISAS = ("avx512bf16", "avx512", "avx2", "scalar")


def _experts(num_experts: int, rows: int, cols: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    weights = torch.randn(num_experts, rows, cols, generator=gen)  # [E, R, C]
    blocks, scales = quantize(weights)
    bias = torch.randn(num_experts, rows, generator=gen)  # [E, R]
    return blocks, scales, bias, gen


def _oracle(x, blocks, scales, bias, expert_ids):
    outs = []
    for k, e in enumerate(expert_ids.tolist()):
        w = dequantize(blocks[e], scales[e], torch.float32)  # [R, C]
        xk = x[k] if x.dim() == 3 else x  # [N, C]
        out = xk.float() @ w.T  # [N, R]
        outs.append(out + bias[e].float() if bias is not None else out)
    return torch.stack(outs)  # [K, N, R]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize(
    ("rows", "cols", "num_tokens"),
    [(1, 32, 1), (5, 64, 1), (37, 96, 2), (130, 160, 3), (33, 2880, 1), (67, 288, 4), (45, 224, 9)],
)
def test_shared_activation_matches_oracle(use_isa, isa, rows, cols, num_tokens):
    use_isa(isa)
    blocks, scales, bias, gen = _experts(6, rows, cols, seed=rows * 7 + cols)
    x = torch.randn(num_tokens, cols, generator=gen)  # [N, C]
    expert_ids = torch.tensor([4, 0, 5, 4])  # repeats are allowed
    got = kernels.mxfp4_experts(x, blocks, scales, bias, expert_ids)
    want = _oracle(x, blocks, scales, bias, expert_ids)
    assert got.shape == (4, num_tokens, rows) and got.dtype == torch.float32
    assert (got - want).abs().max().item() <= 1e-3


@pytest.mark.parametrize("isa", ISAS)
def test_per_expert_activations_and_bf16_bias(use_isa, isa):
    """The down projection's shape: each selected expert gets its own activations."""
    use_isa(isa)
    blocks, scales, bias, gen = _experts(4, 96, 192, seed=3)
    bias = bias.bfloat16()
    x = torch.randn(3, 5, 192, generator=gen)  # [K, N, C]
    expert_ids = torch.tensor([2, 3, 1])
    got = kernels.mxfp4_experts(x, blocks, scales, bias, expert_ids)
    want = _oracle(x, blocks, scales, bias, expert_ids)
    assert (got - want).abs().max().item() <= 1e-3


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("num_tokens", [1, 2, 4, 7, 33])
def test_bf16_activations(use_isa, isa, num_tokens):
    """bf16 inputs are multiplied exactly (widened to float32, or by vdpbf16ps from 4 tokens up
    on avx512bf16), so the oracle sees the same rounded activations and only summation differs."""
    use_isa(isa)
    blocks, scales, bias, gen = _experts(3, 41, 2880, seed=5)
    x = torch.randn(2, num_tokens, 2880, generator=gen).bfloat16()  # [K, N, C]
    expert_ids = torch.tensor([2, 1])
    got = kernels.mxfp4_experts(x, blocks, scales, bias, expert_ids)
    want = _oracle(x, blocks, scales, bias, expert_ids)
    assert (got - want).abs().max().item() <= 1e-3


def test_bf16_activations_without_bias(isas):
    blocks, scales, _, gen = _experts(2, 40, 128, seed=5)
    x = torch.randn(5, 128, generator=gen).bfloat16()  # [N, C]
    got = kernels.mxfp4_experts(x, blocks, scales, None, torch.tensor([1]))
    want = _oracle(x, blocks, scales, None, torch.tensor([1]))
    assert (got - want).abs().max().item() <= 1e-3


def test_every_code_and_extreme_scales(use_isa):
    """All 16 codes at scales from 2**-20 to 2**20 decode exactly as the torch path does."""
    use_isa(kernels.current_isa())
    codes = torch.arange(256, dtype=torch.uint8)  # every (low, high) nibble pair
    blocks = codes.reshape(1, 16, 1, 16).repeat(1, 1, 2, 1)  # [1, 16 rows, 2 blocks, 16]
    scales = torch.arange(107, 107 + 32, dtype=torch.uint8).reshape(1, 16, 2)  # [1, 16, 2]
    x = torch.ones(1, 64)
    for col in range(64):
        onehot = torch.zeros(1, 64)
        onehot[0, col] = 1.0  # picks out one decoded weight per row
        got = kernels.mxfp4_experts(onehot, blocks, scales, None, torch.tensor([0]))
        want = _oracle(onehot, blocks, scales, None, torch.tensor([0]))
        assert torch.equal(got, want), col
    got = kernels.mxfp4_experts(x, blocks, scales, None, torch.tensor([0]))
    assert torch.allclose(got, _oracle(x, blocks, scales, None, torch.tensor([0])), rtol=1e-6, atol=0)


def test_rejects_bad_arguments(isas):
    blocks, scales, bias, _ = _experts(3, 8, 64, seed=1)
    x = torch.randn(1, 64)
    with pytest.raises(ValueError, match="out of range"):
        kernels.mxfp4_experts(x, blocks, scales, bias, torch.tensor([3]))
    with pytest.raises(ValueError, match="does not fit"):
        kernels.mxfp4_experts(torch.randn(1, 32), blocks, scales, bias, torch.tensor([0]))
    with pytest.raises(ValueError, match="scales shape"):
        kernels.mxfp4_experts(x, blocks, scales[:, :4], bias, torch.tensor([0]))
    with pytest.raises(ValueError, match="contiguous"):
        kernels.mxfp4_experts(x, blocks.transpose(0, 1), scales.transpose(0, 1), None, torch.tensor([0]))


def test_grouped_rows_with_uneven_and_empty_groups(isas):
    """Prefill's shape: token rows sorted by expert, groups of 0, 1, 5 and 9 rows."""
    blocks, scales, bias, gen = _experts(5, 70, 128, seed=11)
    counts = [5, 0, 1, 9]
    group_experts = torch.tensor([3, 0, 4, 1])
    offsets = torch.tensor([0, 5, 5, 6, 15])
    x = torch.randn(15, 128, generator=gen).bfloat16()  # [T, C]
    got = kernels.mxfp4_grouped(x, blocks, scales, bias, group_experts, offsets)  # [T, R]
    rows = []
    for e, n, start in zip(group_experts.tolist(), counts, offsets.tolist(), strict=False):
        if n:
            rows.append(_oracle(x[start : start + n], blocks, scales, bias, torch.tensor([e]))[0])
    assert (got - torch.cat(rows)).abs().max().item() <= 1e-3
    with pytest.raises(ValueError, match="must rise"):
        kernels.mxfp4_grouped(x, blocks, scales, bias, group_experts, torch.tensor([0, 5, 4, 6, 15]))
    with pytest.raises(ValueError, match="must rise"):
        kernels.mxfp4_grouped(x, blocks, scales, bias, group_experts, torch.tensor([0, 5, 5, 6, 14]))


@pytest.mark.parametrize("num_tokens", [1, 2, 3])
def test_bf16_decode_path_falls_back_outside_its_exact_scale_range(use_isa, num_tokens):
    """The bf16 decode kernel adds the scale to the exponent field, exact for scales 2..252; a
    tile holding a scale outside that range must take the float32 kernel and stay exact."""
    use_isa("avx512bf16")
    blocks, scales, bias, gen = _experts(2, 24, 128, seed=17)
    scales[1, 5, 0] = 1  # 2**-126: code values below 1 would become bf16 denormals
    scales[1, 9, 2] = 0  # 2**-127
    x = torch.randn(num_tokens, 128, generator=gen).bfloat16()  # [N, C]
    got = kernels.mxfp4_experts(x, blocks, scales, bias, torch.tensor([1, 0]))
    want = _oracle(x, blocks, scales, bias, torch.tensor([1, 0]))
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-3)
