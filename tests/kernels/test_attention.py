"""Decode attention with sinks against the model's reference math (gossamer.model.attention).

Both sides compute float32 scores and a float32 softmax; they differ only in summation order and
in exp implementations, far below the 1e-3 parity bound.
"""

from __future__ import annotations

import pytest
import torch

from gossamer import kernels
from gossamer.model.attention import attention_with_sinks

ISAS = ("avx512bf16", "avx512", "avx2", "scalar")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kv_dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("num_keys", "num_heads", "num_kv_heads", "head_dim"),
                         [(1, 4, 2, 16), (7, 8, 2, 64), (128, 64, 8, 64), (300, 6, 3, 20), (1500, 64, 8, 64),
                          (37, 32, 2, 96)])
def test_matches_reference(use_isa, isa, kv_dtype, num_keys, num_heads, num_kv_heads, head_dim):
    """A bf16 model's q is bf16 too (and on avx512bf16 takes the vdpbf16ps kernel for shapes it fits)."""
    use_isa(isa)
    gen = torch.Generator().manual_seed(num_keys)
    q = torch.randn(1, num_heads, head_dim, generator=gen).to(kv_dtype)  # [1, H, D]
    k = torch.randn(num_keys, num_kv_heads, head_dim, generator=gen).to(kv_dtype)  # [M, KV, D]
    v = torch.randn(num_keys, num_kv_heads, head_dim, generator=gen).to(kv_dtype)
    sinks = torch.randn(num_heads, generator=gen) * 3
    want = attention_with_sinks(q, k, v, sinks, torch.ones(1, num_keys, dtype=torch.bool))  # [1, H, D]
    got = kernels.attention_decode(q, k, v, sinks)
    assert got.shape == want.shape and got.dtype == q.dtype
    assert (got - want).abs().max().item() <= 1e-3


def test_large_sink_attends_to_nothing(isas):
    """A sink far above every score takes all the probability mass: the output goes to zero."""
    q = torch.randn(1, 4, 16)
    k, v = torch.randn(9, 2, 16), torch.randn(9, 2, 16)
    got = kernels.attention_decode(q, k, v, torch.full((4,), 80.0))
    assert got.abs().max().item() < 1e-6


def test_rejects_bad_shapes(isas):
    q, k, v, sinks = torch.randn(1, 4, 16), torch.randn(3, 2, 16), torch.randn(3, 2, 16), torch.randn(4)
    with pytest.raises(ValueError):
        kernels.attention_decode(q, k[:, :, :8], v, sinks)
    with pytest.raises(ValueError):
        kernels.attention_decode(q, torch.randn(3, 3, 16), torch.randn(3, 3, 16), sinks)
    with pytest.raises(ValueError):
        kernels.attention_decode(q, k, v, torch.randn(5))
    with pytest.raises(ValueError):
        kernels.attention_decode(torch.randn(2, 4, 16), k, v, sinks)


def test_the_bf16_kernel_takes_any_context_and_the_general_one_stops(use_isa):
    use_isa("avx512bf16")
    assert kernels.attention_decode_max_keys(64, 8, 64, torch.bfloat16) is None
    assert kernels.attention_decode_max_keys(64, 8, 64, torch.float32) == kernels.ops.ATTENTION_MAX_KEYS
    assert kernels.attention_decode_max_keys(6, 3, 20, torch.bfloat16) == kernels.ops.ATTENTION_MAX_KEYS
    use_isa("avx512")
    assert kernels.attention_decode_max_keys(64, 8, 64, torch.bfloat16) == kernels.ops.ATTENTION_MAX_KEYS


def test_the_kernel_is_preferred_by_key_count_and_dtypes(use_isa):
    use_isa("avx512bf16")
    q = torch.zeros(1, 64, 64, dtype=torch.bfloat16)  # [1, H, D]
    keys = torch.zeros(2000, 8, 64, dtype=torch.bfloat16)  # [M, KV, D]
    limit = kernels.ops.ATTENTION_MAX_KEYS
    assert kernels.attention_decode_preferred(q, keys)  # bf16 q and keys: vdpbf16ps, no limit
    assert kernels.attention_decode_preferred(q, keys, limit)
    # A float32 query takes the general kernel, so the general limit holds even over bf16 keys.
    assert not kernels.attention_decode_preferred(q.float(), keys)
    assert kernels.attention_decode_preferred(q.float(), keys, limit)
    assert not kernels.attention_decode_preferred(q.float(), keys, limit + 1)
