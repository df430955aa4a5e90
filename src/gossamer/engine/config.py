"""The engine's settings: one object, built once (from the server's settings or by hand) and passed whole."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    dtype: str = "bfloat16"  # bfloat16, float32 or float16
    device: str = "cpu"
    kv_cache_memory_bytes: int | str | None = None  # None: $GOSSAMER_KV_CACHE_MEMORY, else 1 GiB
    block_size: int = 16
    max_num_seqs: int = 16  # sequences run at once
    max_num_batched_tokens: int = 512  # the step's token budget: bounds a prefill chunk
    max_context_length: int | None = None  # None: the model's
    enable_prefix_caching: bool = True
    max_queue: int = 256  # requests allowed to wait beyond max_num_seqs before QueueFull
