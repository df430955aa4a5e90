"""How the prefix cache names a block of tokens: SHA-256 chained over the token ids of every block up to it.

Torch-free on purpose: the upstream router (gossamer/upstream/affinity.py) names a prompt's blocks
the same way the engine's prefix cache does, on a front that loads no model.
"""

from __future__ import annotations

import hashlib
from array import array


def chain_hashes(token_ids: list[int], block_size: int, num_blocks: int, start: list[bytes]) -> list[bytes]:
    """Hashes of the first `num_blocks` full blocks, continuing from the already known `start`.

    SHA-256, not Python's `hash`: a tuple-of-ints hash can be collided on purpose, and a collision
    would hand one client's cached K/V (and so a view of another client's prompt) to another.
    """
    hashes = list(start[:num_blocks])
    parent = hashes[-1] if hashes else b""
    for j in range(len(hashes), num_blocks):
        block = array("I", token_ids[j * block_size : (j + 1) * block_size]).tobytes()
        parent = hashlib.sha256(parent + block).digest()
        hashes.append(parent)
    return hashes
