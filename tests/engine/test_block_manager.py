"""Block accounting without a model: exact free counts, window release, prefix hits and LRU eviction."""

from __future__ import annotations

from gossamer.engine.block_manager import BlockManager, chain_hashes
from gossamer.engine.protocol import SamplingParams
from gossamer.engine.sequence import Sequence

BLOCK = 4
WINDOW = 8


def manager(num_full: int = 32, num_sliding: int = 16) -> BlockManager:
    return BlockManager(block_size=BLOCK, num_full_blocks=num_full, num_sliding_blocks=num_sliding,
                        sliding_window=WINDOW)


def make_seq(tokens: list[int]) -> Sequence:
    return Sequence(0, "r", 0, list(tokens), len(tokens), SamplingParams(), 100)


def compute(m: BlockManager, seq: Sequence, num_tokens: int) -> None:
    """What the scheduler and engine do around one step."""
    m.allocate(seq, num_tokens)
    seq.num_computed_tokens += num_tokens
    m.on_computed(seq)


def test_sliding_blocks_are_released_once_out_of_the_window():
    m = manager()
    seq = make_seq(list(range(40)))
    compute(m, seq, 40)
    assert len(seq.full_block_table) == 10
    held = [b for b in seq.sliding_block_table if b is not None]
    # the next query (position 40) sees 33..40: blocks 8 and 9 (plus block 10 once allocated)
    assert seq.sliding_block_table[:8] == [None] * 8 and len(held) == 2
    m.free(seq)
    assert m.full.num_free == 32 and m.sliding.num_free == 16


def test_free_count_returns_exactly():
    m = manager()
    start = m.num_free_blocks
    seqs = [make_seq(list(range(i, i + 13))) for i in range(3)]
    for s in seqs:
        compute(m, s, 13)
    assert m.num_free_blocks < start
    for s in seqs:
        m.free(s)
    assert m.num_free_blocks == start


def test_prefix_hit_needs_full_blocks_and_the_window_tail():
    m = manager()
    first = make_seq(list(range(30)))
    compute(m, first, 30)
    m.free(first)
    second = make_seq([*range(30), 99])
    hashes = m.match_prefix(second)
    assert len(hashes) == 7  # 28 tokens in 7 full blocks
    assert m.can_admit(second, hashes, 3)
    m.admit(second, hashes)
    assert second.num_computed_tokens == 28 and second.num_cached_tokens == 28
    # sliding: the query at 28 sees 21..28, i.e. blocks 5 and 6 were restored, 0..4 are not needed
    assert second.sliding_block_table[:5] == [None] * 5
    assert None not in second.sliding_block_table[5:7]


def test_prefix_hit_shrinks_when_the_window_tail_was_evicted():
    m = manager(num_sliding=8)
    first = make_seq(list(range(30)))
    compute(m, first, 30)
    m.free(first)
    # Use up every sliding block with unrelated content: the cached window tail gets evicted.
    other = make_seq([500 + i for i in range(8 * BLOCK)])
    m.allocate(other, 8 * BLOCK)
    second = make_seq([*range(30), 99])
    assert m.match_prefix(second) == []
    m.free(other)


def test_lru_evicts_the_least_recently_released_cached_block():
    m = manager(num_full=4, num_sliding=16)
    a = make_seq(list(range(9)))
    compute(m, a, 8)  # two full blocks named
    m.free(a)
    assert m.full.num_free == 4 and len(m.full.evictable) == 2
    b = make_seq([100 + i for i in range(12)])
    m.allocate(b, 12)  # 3 blocks: 2 free ones, then evicts one cached block (a's tail, released first)
    assert len(m.full.cached) == 1
    assert len(m.match_prefix(make_seq([*range(8), 1, 2]))) == 1  # the head block survived


def test_block_names_are_chained_sha256_digests() -> None:
    tokens = list(range(100, 148))  # three blocks of 16
    names = chain_hashes(tokens, 16, 3, [])
    assert all(len(n) == 32 for n in names) and len(set(names)) == 3
    assert chain_hashes(tokens, 16, 3, names[:1]) == names  # continuing from a known prefix
    changed = chain_hashes([*tokens[:5], 99, *tokens[6:]], 16, 3, [])
    # an early token renames every later block
    assert all(a != b for a, b in zip(names, changed, strict=True))
    top = chain_hashes([201087] * 16, 16, 1, [])  # ids at the top of the vocabulary fit
    assert top != chain_hashes([201086] * 16, 16, 1, [])
