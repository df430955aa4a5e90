"""KV cache tensors, sized from a memory budget.

The budget (argument, else $GOSSAMER_KV_CACHE_MEMORY, else 1 GiB) is split between two pools of
fixed-size blocks (see block_manager.py for why): the sliding-window layers' pool is sized for
what the running sequences can hold at once (window/block_size + 2 blocks each, plus one prefill
chunk), doubled so recently released window blocks stay around for prefix hits, and capped at
half the budget; everything left goes to the full-attention layers, whose pool decides how much
context fits.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import torch

from gossamer.model.config import ModelConfig

logger = logging.getLogger(__name__)

KV_CACHE_MEMORY_ENV = "GOSSAMER_KV_CACHE_MEMORY"
DEFAULT_KV_CACHE_MEMORY_BYTES = 1 << 30

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "tb": 10**12}


def parse_memory_size(text: str | int) -> int:
    """'2GiB', '512MiB', '1.5GB', '1000000' -> bytes."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read memory size {text!r} (examples: 2GiB, 512MiB, 1.5GB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def resolve_kv_cache_memory(kv_cache_memory_bytes: int | str | None) -> int:
    if kv_cache_memory_bytes is None:
        env = os.environ.get(KV_CACHE_MEMORY_ENV)
        if env:
            try:
                return parse_memory_size(env)
            except ValueError as exc:
                raise ValueError(f"${KV_CACHE_MEMORY_ENV}: {exc}") from None
        return DEFAULT_KV_CACHE_MEMORY_BYTES
    return parse_memory_size(kv_cache_memory_bytes)


@dataclass(frozen=True)
class CacheLayout:
    block_size: int
    num_full_blocks: int
    num_sliding_blocks: int
    full_layers: tuple[int, ...]
    sliding_layers: tuple[int, ...]
    sliding_window: int | None
    bytes_per_full_block: int
    bytes_per_sliding_block: int

    @property
    def num_bytes(self) -> int:
        return (self.num_full_blocks * self.bytes_per_full_block
                + self.num_sliding_blocks * self.bytes_per_sliding_block)


def plan_cache(
    config: ModelConfig,
    *,
    memory_bytes: int,
    dtype: torch.dtype,
    block_size: int,
    max_num_seqs: int,
    max_num_batched_tokens: int,
    max_context_length: int,
) -> CacheLayout:
    full_layers = tuple(i for i in range(config.num_layers) if not config.is_sliding(i))
    sliding_layers = tuple(i for i in range(config.num_layers) if config.is_sliding(i))
    itemsize = torch.empty((), dtype=dtype).element_size()
    per_layer_block = 2 * block_size * config.num_kv_heads * config.head_dim * itemsize  # K and V
    bytes_full = per_layer_block * len(full_layers)
    bytes_sliding = per_layer_block * len(sliding_layers)
    window = config.sliding_window

    num_sliding = 0
    if sliding_layers:
        per_seq = window // block_size + 2
        chunk = -(-max_num_batched_tokens // block_size) + 1
        minimum = per_seq + chunk
        wanted = 2 * (max_num_seqs * per_seq + chunk)
        affordable = (memory_bytes // 2) // bytes_sliding if full_layers else memory_bytes // bytes_sliding
        num_sliding = max(minimum, min(wanted, affordable))
    left = memory_bytes - num_sliding * bytes_sliding
    num_full = 0
    if full_layers:
        max_useful = max_num_seqs * -(-max_context_length // block_size)
        num_full = min(max(0, left) // bytes_full, max_useful)
        if num_full < 2:
            minimum_bytes = num_sliding * bytes_sliding + 2 * bytes_full
            raise ValueError(
                f"KV cache budget of {memory_bytes} bytes is too small for this model: "
                f"need at least {minimum_bytes} bytes (set ${KV_CACHE_MEMORY_ENV} or --kv-cache-memory-bytes)"
            )
    elif num_sliding * bytes_sliding > memory_bytes:
        raise ValueError(f"KV cache budget of {memory_bytes} bytes is too small: need "
                         f"{num_sliding * bytes_sliding} bytes")
    layout = CacheLayout(block_size, num_full, num_sliding, full_layers, sliding_layers,
                         window if sliding_layers else None, bytes_full, bytes_sliding)
    logger.debug("KV cache: %d full-attention blocks, %d sliding-window blocks of %d tokens (%.1f MiB)",
                num_full, num_sliding, block_size, layout.num_bytes / 2**20)
    return layout


class KVCache:
    """Per-layer K/V storage, flat over slots: slot = block_id * block_size + offset."""

    def __init__(
        self, layout: CacheLayout, config: ModelConfig, dtype: torch.dtype, device: str | torch.device
    ) -> None:
        self.layout = layout
        self.block_size = layout.block_size
        kv_shape = (config.num_kv_heads, config.head_dim)
        # layer -> (is_sliding, index into that group's tensors)
        self.layer_group: dict[int, tuple[bool, int]] = {}
        for i, layer in enumerate(layout.full_layers):
            self.layer_group[layer] = (False, i)
        for i, layer in enumerate(layout.sliding_layers):
            self.layer_group[layer] = (True, i)
        num_full_slots = layout.num_full_blocks * layout.block_size
        num_sliding_slots = layout.num_sliding_blocks * layout.block_size
        # [layers_in_group, num_slots, num_kv_heads, head_dim]. Left uninitialized: a slot is always
        # written before it is read, and untouched pages of a large budget cost no resident memory.
        self.full_k = torch.empty(
            (len(layout.full_layers), num_full_slots, *kv_shape), dtype=dtype, device=device
        )
        self.full_v = torch.empty_like(self.full_k)
        self.sliding_k = torch.empty(
            (len(layout.sliding_layers), num_sliding_slots, *kv_shape), dtype=dtype, device=device
        )
        self.sliding_v = torch.empty_like(self.sliding_k)

    def layer_tensors(self, layer: int) -> tuple[bool, torch.Tensor, torch.Tensor]:
        """(is_sliding, k [num_slots, KV, D], v [num_slots, KV, D]) for one layer."""
        is_sliding, i = self.layer_group[layer]
        if is_sliding:
            return True, self.sliding_k[i], self.sliding_v[i]
        return False, self.full_k[i], self.full_v[i]
