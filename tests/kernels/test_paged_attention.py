"""The batched paged attention kernel against the model's reference math, and batch invariance.

Sequences of a step (decode, prefill chunks, several queries for speculative verification)
each attend over their own keys through a shuffled block table; the reference gathers each
sequence's keys in position order and runs gossamer.model.attention.attention_with_sinks.
"""

from __future__ import annotations

import pytest
import torch

from gossamer import kernels
from gossamer.model.attention import attention_with_sinks, causal_mask

BLOCK = 4
HEADS, KV_HEADS, HEAD_DIM = 8, 2, 64


def _cache(num_blocks: int, dtype: torch.dtype, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (num_blocks * BLOCK, KV_HEADS, HEAD_DIM)
    return torch.randn(shape, generator=gen).to(dtype), torch.randn(shape, generator=gen).to(dtype)


def _tables(seq_lens: list[int], num_blocks: int, gen: torch.Generator) -> torch.Tensor:
    """Each sequence's logical blocks on distinct, shuffled physical blocks: [S, max_blocks] int32."""
    width = max(-(-n // BLOCK) for n in seq_lens)
    free = torch.randperm(num_blocks, generator=gen).tolist()
    tables = torch.full((len(seq_lens), width), -1, dtype=torch.int32)
    for s, n in enumerate(seq_lens):
        for b in range(-(-n // BLOCK)):
            tables[s, b] = free.pop()
    return tables


def _reference(q, k_cache, v_cache, tables, query_start, seq_lens, sinks, window):
    out = torch.empty_like(q)
    for s in range(len(seq_lens)):
        a, b = int(query_start[s]), int(query_start[s + 1])
        length = int(seq_lens[s])
        positions = torch.arange(length)
        slots = tables[s].long()[positions // BLOCK] * BLOCK + positions % BLOCK  # [length]
        mask = causal_mask(torch.arange(length - (b - a), length), positions, window)  # [n, length]
        out[a:b] = attention_with_sinks(q[a:b], k_cache[slots], v_cache[slots], sinks, mask)
    return out


def _call(q, k_cache, v_cache, tables, query_start, seq_lens, sinks, window):
    return kernels.paged_attention(q, k_cache, v_cache, tables, BLOCK, query_start, seq_lens, sinks, window)


@pytest.mark.parametrize("isa", ["avx512bf16", "avx512", "scalar"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("window", [None, 8])
def test_mixed_batch_matches_reference(use_isa, isa, dtype, window):
    use_isa(isa)
    gen = torch.Generator().manual_seed(0)
    # decode at 1 and 37 keys, a 20-token prefill chunk after 5 cached, a 4-query verification
    seq_lens, num_queries = [1, 37, 25, 30], [1, 1, 20, 4]
    k_cache, v_cache = _cache(64, dtype, gen)
    tables = _tables(seq_lens, 64, gen)
    query_start = torch.tensor([0, *torch.tensor(num_queries).cumsum(0).tolist()], dtype=torch.int32)
    q = torch.randn(sum(num_queries), HEADS, HEAD_DIM, generator=gen).to(dtype)
    sinks = torch.randn(HEADS, generator=gen) * 2
    lens = torch.tensor(seq_lens, dtype=torch.int32)
    got = _call(q, k_cache, v_cache, tables, query_start, lens, sinks, window)
    want = _reference(q, k_cache, v_cache, tables, query_start, lens, sinks, window)
    assert got.dtype == dtype
    tolerance = 1e-3 if dtype == torch.float32 else 2e-2  # bf16 output rounding
    assert (got.float() - want.float()).abs().max().item() <= tolerance


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_query_gets_the_same_bits_alone_and_in_any_batch(isas, dtype):
    """One sequence's 3 queries alone, then inside a batch of others and split across steps."""
    gen = torch.Generator().manual_seed(1)
    k_cache, v_cache = _cache(64, dtype, gen)
    tables = _tables([40, 19, 3], 64, gen)
    q_mine = torch.randn(3, HEADS, HEAD_DIM, generator=gen).to(dtype)
    sinks = torch.randn(HEADS, generator=gen)

    def run(query_start, lens, q, t):
        return _call(q, k_cache, v_cache, t, torch.tensor(query_start, dtype=torch.int32),
                     torch.tensor(lens, dtype=torch.int32), sinks, None)

    alone = run([0, 3], [40], q_mine, tables[:1])
    others = torch.randn(9, HEADS, HEAD_DIM, generator=gen).to(dtype)
    batched = run([0, 6, 9, 12], [19, 40, 3], torch.cat((others[:6], q_mine, others[6:])), tables[[1, 0, 2]])
    assert torch.equal(batched[6:9], alone)
    one_by_one = [run([0, 1], [38 + i], q_mine[i : i + 1], tables[:1]) for i in range(3)]
    assert torch.equal(torch.cat(one_by_one), alone)


def test_a_missing_block_is_an_error(isas):
    gen = torch.Generator().manual_seed(2)
    k_cache, v_cache = _cache(8, torch.float32, gen)
    tables = torch.tensor([[0, -1, 2]], dtype=torch.int32)
    q = torch.randn(1, HEADS, HEAD_DIM)
    with pytest.raises(ValueError, match="no cache block"):
        _call(q, k_cache, v_cache, tables, torch.tensor([0, 1], dtype=torch.int32),
              torch.tensor([10], dtype=torch.int32), torch.zeros(HEADS), None)
    # On a sliding layer the released block lies out of the window: fine.
    out = _call(q, k_cache, v_cache, tables, torch.tensor([0, 1], dtype=torch.int32),
                torch.tensor([10], dtype=torch.int32), torch.zeros(HEADS), 2)
    assert torch.isfinite(out).all()
