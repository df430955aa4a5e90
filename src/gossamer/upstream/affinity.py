"""Which replica already holds a prompt's prefix in its cache: block names remembered per replica.

A prompt is named the way the prefix cache names it (gossamer/engine/block_hash.py): one SHA-256
per full block of 16 tokens, chained. Every prompt sent to a replica is recorded under those names,
and so is its tail (the tokens after its last full block), so that two things can be told apart:

- a **continuation**: the next turn of a conversation starts with the whole previous prompt, tail
  included. It goes back to the replica that ran the previous turn, whose cache holds all of it.
  The exact tail check matters: a short first message often sits wholly in the partial last
  block, so block names alone would not tell one conversation from another.
- a **shared prefix**: a system prompt, a tool list, a long document that many prompts start with.
  Following it would pile every new conversation onto the first replica that saw it, so it only
  counts when it is long enough (`min_shared_tokens`) to be worth queueing for; below that, new
  conversations are spread by load.

Memory is bounded: the least recently used block names are forgotten first.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field

from gossamer.engine.block_hash import chain_hashes

_ROOT = b""  # the name of the empty prefix: prompts shorter than one block hang their tail here
_MAX_TAILS_PER_BLOCK = 4096  # a popular system prompt collects one tail per conversation


@dataclass
class _Block:
    holders: OrderedDict[str, None] = field(default_factory=OrderedDict)  # replicas, most recent last
    # Prompts that ended within the next block: name of (this block, tail tokens) -> replicas.
    tails: OrderedDict[bytes, OrderedDict[str, None]] = field(default_factory=OrderedDict)


@dataclass(frozen=True)
class PrefixMatch:
    holders: tuple[str, ...]  # replicas holding the match, most recent first; empty: none worth following
    num_tokens: int  # prompt tokens the holders have (in whole blocks, plus the tail of a continuation)
    continuation: bool  # the prompt extends a prompt sent to them before (the next turn of a conversation)


def _tail_name(block_name: bytes, tail: list[int]) -> bytes:
    return hashlib.sha256(block_name + b"tail" + array("I", tail).tobytes()).digest()


class PrefixIndex:
    def __init__(
        self, *, block_size: int = 16, capacity: int = 1 << 20, min_shared_tokens: int = 4096
    ) -> None:
        self.block_size = block_size
        self.capacity = capacity
        self.min_shared_tokens = min_shared_tokens
        self._blocks: OrderedDict[bytes, _Block] = OrderedDict()

    def __len__(self) -> int:
        return len(self._blocks)

    def block_names(self, prompt_ids: list[int]) -> list[bytes]:
        return chain_hashes(prompt_ids, self.block_size, len(prompt_ids) // self.block_size, [])

    def lookup(self, prompt_ids: list[int], names: list[bytes]) -> PrefixMatch:
        """The replicas worth sending this prompt to for their cache (names: its block names)."""
        depth = len(names)
        while depth and names[depth - 1] not in self._blocks:
            depth -= 1  # the deepest block of this prompt that some replica was sent
        name = names[depth - 1] if depth else _ROOT
        block = self._blocks.get(name)
        if block is None:
            return PrefixMatch((), 0, False)
        start = depth * self.block_size
        # The longest earlier prompt this one extends, ending within the block after `depth`.
        for length in range(min(self.block_size - 1, len(prompt_ids) - start), -1, -1):
            holders = block.tails.get(_tail_name(name, prompt_ids[start : start + length]))
            if holders:
                return PrefixMatch(tuple(reversed(holders)), start + length, True)
        if depth and start >= self.min_shared_tokens:
            return PrefixMatch(tuple(reversed(block.holders)), start, False)
        return PrefixMatch((), start, False)

    def record(self, prompt_ids: list[int], names: list[bytes], replica: str) -> None:
        """Remember that `replica` was sent this prompt (its blocks are now in that replica's cache)."""
        # Deepest first, so that a prompt's shorter prefixes are the more recently used and are
        # forgotten after its longer ones: what is remembered stays a prefix of what was sent.
        for name in reversed(names):
            self._touch(name).holders[replica] = None
            self._blocks[name].holders.move_to_end(replica)
        name = names[-1] if names else _ROOT
        block = self._touch(name)
        tail = prompt_ids[len(names) * self.block_size :]
        holders = block.tails.setdefault(_tail_name(name, tail), OrderedDict())
        holders[replica] = None
        holders.move_to_end(replica)
        block.tails.move_to_end(_tail_name(name, tail))
        while len(block.tails) > _MAX_TAILS_PER_BLOCK:
            block.tails.popitem(last=False)
        while len(self._blocks) > self.capacity:
            self._blocks.popitem(last=False)

    def forget(self, replica: str) -> None:
        """A replica that restarted lost its cache: stop sending prompts there for it."""
        for block in self._blocks.values():
            block.holders.pop(replica, None)
            for holders in block.tails.values():
                holders.pop(replica, None)

    def _touch(self, name: bytes) -> _Block:
        block = self._blocks.get(name)
        if block is None:
            block = self._blocks[name] = _Block()
        else:
            self._blocks.move_to_end(name)
        return block
