"""KV block accounting: two block pools (full-attention and sliding-window layers) and the prefix cache.

Why two pools: gpt-oss alternates full-attention layers with layers that only look 128 tokens
back. A single pool would hold every position of every layer; here the full-attention pool keeps
a block for every position of a sequence, while a sequence's sliding-window blocks go back to
their pool as soon as they lie wholly out of the window of every later query. A decoding
sequence therefore holds at most window/block_size + 2 sliding blocks, and half of the model's
layers cost a constant per sequence instead of growing with the context.

Prefix cache (vLLM-style, hash-based): a full block is named by a hash chained over the token
ids of every block up to and including it, so equal names mean equal K/V in every layer. Both
pools register full blocks under that name. A block whose reference count drops to zero but
that carries a name is kept as "evictable" (LRU order) and can be taken back by a later
request; new allocations take never-named free blocks first, then evict the least recently
released named block.

A prefix hit of k blocks must restore everything the first uncomputed position (k*B) can see:
all k full-attention blocks, and the sliding blocks covering positions k*B - window + 1 .. k*B - 1.
The sliding blocks before that are not needed and stay None in the table. `match_prefix`
returns the longest k for which both pools hold what is needed, so a prefix hit produces
exactly the K/V the sequence would have computed itself (greedy output is unchanged).
"""

from __future__ import annotations

from collections import OrderedDict, deque

from gossamer.engine.block_hash import chain_hashes
from gossamer.engine.sequence import Sequence

__all__ = ["BlockManager", "BlockPool", "chain_hashes"]


class BlockPool:
    """Fixed-size blocks of one KV group: reference counts, a free list and named (cached) blocks."""

    def __init__(self, num_blocks: int) -> None:
        self.num_blocks = num_blocks
        self.ref_counts = [0] * num_blocks
        self.block_hash: list[bytes | None] = [None] * num_blocks
        self.free_ids: deque[int] = deque(range(num_blocks))  # unreferenced, unnamed
        self.cached: dict[bytes, int] = {}  # block hash -> block id
        self.evictable: OrderedDict[int, None] = OrderedDict()  # unreferenced named blocks, LRU first

    @property
    def num_free(self) -> int:
        """Blocks an allocation may take: free plus evictable cached ones."""
        return len(self.free_ids) + len(self.evictable)

    def allocate(self) -> int:
        if self.free_ids:
            block_id = self.free_ids.popleft()
        elif self.evictable:
            block_id, _ = self.evictable.popitem(last=False)
            del self.cached[self.block_hash[block_id]]  # type: ignore[index]
            self.block_hash[block_id] = None
        else:
            raise RuntimeError("KV block pool exhausted (the scheduler should have checked)")
        self.ref_counts[block_id] = 1
        return block_id

    def lookup(self, block_hash: bytes) -> int | None:
        return self.cached.get(block_hash)

    def acquire(self, block_id: int) -> None:
        """Take a reference to a cached block (found by lookup)."""
        if self.ref_counts[block_id] == 0:
            del self.evictable[block_id]
        self.ref_counts[block_id] += 1

    def release(self, block_id: int) -> None:
        self.ref_counts[block_id] -= 1
        assert self.ref_counts[block_id] >= 0, f"block {block_id} released twice"
        if self.ref_counts[block_id] == 0:
            if self.block_hash[block_id] is None:
                self.free_ids.append(block_id)
            else:
                self.evictable[block_id] = None  # most recently released: evicted last

    def register(self, block_id: int, block_hash: bytes) -> None:
        """Name a full, computed block so later requests can reuse it."""
        if self.block_hash[block_id] is not None or block_hash in self.cached:
            return  # already named, or another block already holds this content
        self.block_hash[block_id] = block_hash
        self.cached[block_hash] = block_id

    def cost_to_acquire(self, block_id: int) -> int:
        """Free capacity consumed by acquiring this cached block (1 if it sits in the evictable set)."""
        return 1 if self.ref_counts[block_id] == 0 else 0


class BlockManager:
    def __init__(
        self,
        *,
        block_size: int,
        num_full_blocks: int,
        num_sliding_blocks: int,
        sliding_window: int | None,
        enable_prefix_caching: bool = True,
    ) -> None:
        self.block_size = block_size
        self.sliding_window = sliding_window
        self.full = BlockPool(num_full_blocks)
        self.sliding = BlockPool(num_sliding_blocks)
        self.enable_prefix_caching = enable_prefix_caching

    # ----- geometry
    def num_blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    def first_visible_block(self, position: int) -> int:
        """First logical block a sliding-window query at `position` (or later) can see."""
        assert self.sliding_window is not None
        return max(0, position - self.sliding_window + 1) // self.block_size

    @property
    def num_free_blocks(self) -> int:
        return self.full.num_free + self.sliding.num_free

    @property
    def num_total_blocks(self) -> int:
        return self.full.num_blocks + self.sliding.num_blocks

    # ----- prefix cache
    def match_prefix(self, seq: Sequence) -> list[bytes]:
        """Hashes of the longest cached prefix usable by `seq` (full blocks only).

        The last token is never served from the cache: its logits are needed to sample.
        """
        if not self.enable_prefix_caching:
            return []
        max_blocks = (seq.num_tokens - 1) // self.block_size
        hashes = chain_hashes(seq.token_ids, self.block_size, max_blocks, seq.block_hashes)
        k = 0
        while k < max_blocks and self.full.lookup(hashes[k]) is not None:
            k += 1
        if self.sliding.num_blocks:
            while k > 0 and not all(
                self.sliding.lookup(hashes[j]) is not None
                for j in range(self.first_visible_block(k * self.block_size), k)
            ):
                k -= 1
        return hashes[:k]

    def _new_blocks_needed(
        self, seq: Sequence, num_cached_blocks: int, num_new_tokens: int
    ) -> tuple[int, int]:
        """(full, sliding) fresh blocks needed to compute `num_new_tokens` more tokens."""
        computed = max(seq.num_computed_tokens, num_cached_blocks * self.block_size)
        num_logical = self.num_blocks_for(computed + num_new_tokens)
        full = num_logical - max(len(seq.full_block_table), num_cached_blocks)
        sliding = 0
        if self.sliding.num_blocks:
            sliding = num_logical - max(len(seq.sliding_block_table), num_cached_blocks)
        return full, sliding

    def can_admit(self, seq: Sequence, hashes: list[bytes], num_new_tokens: int) -> bool:
        full, sliding = self._new_blocks_needed(seq, len(hashes), num_new_tokens)
        full += sum(self.full.cost_to_acquire(self.full.cached[h]) for h in hashes)
        if self.sliding.num_blocks and hashes:
            first = self.first_visible_block(len(hashes) * self.block_size)
            sliding += sum(self.sliding.cost_to_acquire(self.sliding.cached[h]) for h in hashes[first:])
        return full <= self.full.num_free and sliding <= self.sliding.num_free

    def admit(self, seq: Sequence, hashes: list[bytes]) -> None:
        """Give a waiting sequence its cached prefix blocks (counted as computed)."""
        assert not seq.full_block_table and not seq.sliding_block_table
        for h in hashes:
            block_id = self.full.cached[h]
            self.full.acquire(block_id)
            seq.full_block_table.append(block_id)
        if self.sliding.num_blocks and hashes:
            first = self.first_visible_block(len(hashes) * self.block_size)
            seq.sliding_block_table = [None] * first
            for h in hashes[first:]:
                block_id = self.sliding.cached[h]
                self.sliding.acquire(block_id)
                seq.sliding_block_table.append(block_id)
        seq.block_hashes = list(hashes)
        seq.num_computed_tokens = len(hashes) * self.block_size
        if seq.num_cached_tokens is None:
            seq.num_cached_tokens = seq.num_computed_tokens

    def can_append(self, seq: Sequence, num_new_tokens: int) -> bool:
        full, sliding = self._new_blocks_needed(seq, 0, num_new_tokens)
        return full <= self.full.num_free and sliding <= self.sliding.num_free

    def allocate(self, seq: Sequence, num_new_tokens: int) -> None:
        """Give `seq` blocks for positions up to num_computed_tokens + num_new_tokens - 1."""
        num_logical = self.num_blocks_for(seq.num_computed_tokens + num_new_tokens)
        while len(seq.full_block_table) < num_logical:
            seq.full_block_table.append(self.full.allocate())
        if self.sliding.num_blocks:
            while len(seq.sliding_block_table) < num_logical:
                seq.sliding_block_table.append(self.sliding.allocate())

    def on_computed(self, seq: Sequence) -> None:
        """After a step: name newly filled blocks, then drop sliding blocks out of the window."""
        num_full = seq.num_computed_tokens // self.block_size
        if self.enable_prefix_caching and num_full > len(seq.block_hashes):
            known = len(seq.block_hashes)
            seq.block_hashes = chain_hashes(seq.token_ids, self.block_size, num_full, seq.block_hashes)
            for j in range(known, num_full):
                self.full.register(seq.full_block_table[j], seq.block_hashes[j])
                sliding_id = seq.sliding_block_table[j] if self.sliding.num_blocks else None
                if sliding_id is not None:
                    self.sliding.register(sliding_id, seq.block_hashes[j])
        if self.sliding.num_blocks:
            # The next query is at position num_computed_tokens; nothing before its window is read again.
            for j in range(self.first_visible_block(seq.num_computed_tokens)):
                block_id = seq.sliding_block_table[j]
                if block_id is not None:
                    self.sliding.release(block_id)
                    seq.sliding_block_table[j] = None

    def free(self, seq: Sequence) -> None:
        """Return every block of `seq`. Full blocks go tail first so a prefix's head stays cached
        longest; sliding blocks go head first so the tail (what a prefix hit needs) stays."""
        for block_id in reversed(seq.full_block_table):
            self.full.release(block_id)
        for sliding_id in seq.sliding_block_table:
            if sliding_id is not None:
                self.sliding.release(sliding_id)
        seq.full_block_table = []
        seq.sliding_block_table = []
        seq.num_computed_tokens = 0
