"""The dense matrix-vector kernel against torch's float32 matmul.

bf16 weights widen to float32 exactly and products are computed in float32, so the kernel and
the oracle (`x.float() @ w.float().T`) differ only in summation order.
"""

from __future__ import annotations

import pytest
import torch

from gossamer import kernels

ISAS = ("avx512", "avx2", "scalar")  # avx512bf16 runs the same dense kernels as avx512


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("weight_dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize(
    ("rows", "cols", "num_tokens"),
    [(1, 1, 1), (3, 7, 1), (65, 64, 2), (130, 2880, 1), (77, 100, 3), (129, 33, 4), (20, 48, 11)],
)
def test_linear_matches_oracle(use_isa, isa, weight_dtype, rows, cols, num_tokens):
    use_isa(isa)
    gen = torch.Generator().manual_seed(rows * 31 + cols)
    weight = torch.randn(rows, cols, generator=gen).to(weight_dtype)  # [R, C]
    bias = torch.randn(rows, generator=gen).to(weight_dtype)  # [R]
    x = torch.randn(num_tokens, cols, generator=gen)  # [N, C]
    got = kernels.linear(x, weight, bias)
    want = x @ weight.float().T + bias.float()  # [N, R]
    assert got.shape == (num_tokens, rows) and got.dtype == torch.float32
    assert (got - want).abs().max().item() <= 1e-3


def test_linear_without_bias_and_bf16_input(isas):
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(50, 96, generator=gen).bfloat16()
    x = torch.randn(2, 96, generator=gen).bfloat16()
    got = kernels.linear(x, weight)
    assert (got - x.float() @ weight.float().T).abs().max().item() <= 1e-3


@pytest.mark.parametrize("isa", ("avx512amx", "avx512bf16", *ISAS))
@pytest.mark.parametrize(
    ("rows", "cols", "num_tokens"),
    [(130, 2880, 1), (9, 64, 5), (33, 96, 3), (17, 40, 2), (208, 2880, 1), (48, 4096, 17), (64, 96, 40)],
)
def test_bf16_activations_times_bf16_weights(use_isa, isa, rows, cols, num_tokens):
    """bf16 x bf16: AMX tiles where the CPU has them (rows a multiple of 16, cols of 32), vdpbf16ps where
    it has AVX512-BF16 (cols a multiple of 32), else widened to float32."""
    use_isa(isa)
    gen = torch.Generator().manual_seed(rows + cols)
    weight = torch.randn(rows, cols, generator=gen).bfloat16()  # [R, C]
    bias = torch.randn(rows, generator=gen).bfloat16()  # [R]
    x = torch.randn(num_tokens, cols, generator=gen).bfloat16()  # [N, C]
    got = kernels.linear(x, weight, bias)
    want = x.float() @ weight.float().T + bias.float()  # products of bf16 values are exact in float32
    assert (got - want).abs().max().item() <= 1e-3


def test_zero_rows(isas):
    """An engine step may ask for no rows at all (nothing sampled); that is an empty result."""
    assert kernels.linear(torch.randn(0, 16), torch.randn(8, 16)).shape == (0, 8)
    blocks = torch.zeros(2, 8, 1, 16, dtype=torch.uint8)
    scales = torch.full((2, 8, 1), 127, dtype=torch.uint8)
    no_rows = torch.randn(0, 32)
    got = kernels.mxfp4_grouped(no_rows, blocks, scales, None, torch.tensor([1]), torch.tensor([0, 0]))
    assert got.shape == (0, 8)


def test_linear_rejects_bad_arguments(isas):
    weight = torch.randn(8, 16)
    with pytest.raises(ValueError, match="does not fit"):
        kernels.linear(torch.randn(1, 15), weight)
    with pytest.raises(ValueError, match="contiguous"):
        kernels.linear(torch.randn(1, 8), weight.T)
    with pytest.raises(ValueError, match="dtype"):
        kernels.linear(torch.randn(1, 16), weight.half())
    with pytest.raises(ValueError, match="bias shape"):
        kernels.linear(torch.randn(1, 16), weight, torch.zeros(9))


@pytest.mark.parametrize("num_tokens", [1, 16, 40])
def test_linear_impl_matches_torch(isas, num_tokens):
    """linear_impl takes the kernel for any number of rows and agrees with F.linear."""
    from gossamer.kernels.dense import linear_impl

    gen = torch.Generator().manual_seed(num_tokens)
    weight = torch.randn(70, 96, generator=gen)  # [R, C] float32
    bias = torch.randn(70, generator=gen)
    x = torch.randn(num_tokens, 96, generator=gen)  # [N, C]
    assert (linear_impl(x, weight, bias) - (x @ weight.T + bias)).abs().max().item() <= 1e-3
    assert (linear_impl(x, weight) - x @ weight.T).abs().max().item() <= 1e-3
    got_bf16 = linear_impl(x.bfloat16(), weight.bfloat16(), bias.bfloat16())
    # The kernel's float32 result (the model casts projections back; logits keep the precision).
    assert got_bf16.dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_row_gets_the_same_bits_whatever_else_is_multiplied(isas, dtype):
    """Decode (a few rows, streamed) and prefill (many rows, blocked) compute each row alike."""
    gen = torch.Generator().manual_seed(3)
    weight = torch.randn(200, 2880, generator=gen).to(dtype)  # [R, C]
    bias = torch.randn(200, generator=gen).to(dtype)
    x = torch.randn(100, 2880, generator=gen).to(dtype)  # [N, C]
    together = kernels.linear(x, weight, bias)  # [N, R]
    for rows in ([0], [5, 6, 7], list(range(16)), list(range(17)), list(range(60, 100))):
        assert torch.equal(kernels.linear(x[rows], weight, bias), together[rows])


@pytest.mark.parametrize(("rows", "cols"), [(208, 2880), (80, 4096), (16, 64)])
def test_amx_tiles_give_a_row_the_same_bits_whatever_else_is_multiplied(use_isa, rows, cols):
    """On AMX tiles every token count takes the same chain of tile products (one row group at a
    time for a token tile, four for many), and a zero-padded token column changes no other."""
    use_isa("avx512amx")
    gen = torch.Generator().manual_seed(rows + cols)
    weight = torch.randn(rows, cols, generator=gen).bfloat16()  # [R, C]
    bias = torch.randn(rows, generator=gen).bfloat16()
    x = torch.randn(70, cols, generator=gen).bfloat16()  # [N, C]
    together = kernels.linear(x, weight, bias)  # [N, R]
    want = x.float() @ weight.float().T + bias.float()
    assert (together - want).abs().max().item() <= 1e-3
    for picked in ([0], [3, 4], list(range(15)), list(range(16)), list(range(17)), list(range(33, 70))):
        assert torch.equal(kernels.linear(x[picked], weight, bias), together[picked])
