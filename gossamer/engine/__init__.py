"""The engine: scheduling, KV cache, model running and sampling behind an async interface.

`build_engine` imports torch and the model lazily, so importing `gossamer.engine` (for the
protocol types) stays cheap for the server and for tests that use a scripted engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gossamer.engine.protocol import (
    Engine,
    EngineStats,
    QueueFull,
    RequestOutput,
    RequestRejected,
    SamplingParams,
    TokenLogprob,
)

if TYPE_CHECKING:
    from gossamer.engine.async_engine import AsyncEngine

__all__ = [
    "Engine",
    "EngineStats",
    "QueueFull",
    "RequestOutput",
    "RequestRejected",
    "SamplingParams",
    "TokenLogprob",
    "build_engine",
]


def build_engine(
    model_path: str | Path,
    *,
    dtype: str = "bfloat16",
    device: str = "cpu",
    kv_cache_memory_bytes: int | str | None = None,
    max_num_seqs: int = 16,
    max_context_length: int | None = None,
    max_queue: int = 256,
    max_num_batched_tokens: int = 512,
    block_size: int = 16,
    enable_prefix_caching: bool = True,
) -> AsyncEngine:
    """Load the model at `model_path` and start an engine over it (its thread starts now).

    kv_cache_memory_bytes: bytes or a size like "2GiB"; None reads $GOSSAMER_KV_CACHE_MEMORY,
    else 1 GiB.
    """
    import torch

    from gossamer.engine.async_engine import AsyncEngine
    from gossamer.engine.engine import EngineConfig, EngineCore
    from gossamer.model.loader import load_model

    dtypes = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}
    if dtype not in dtypes:
        raise ValueError(f"dtype must be one of {sorted(dtypes)}, got {dtype!r}")
    model = load_model(model_path, dtype=dtypes[dtype], device=device)
    config = EngineConfig(
        kv_cache_memory_bytes=kv_cache_memory_bytes,
        block_size=block_size,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        max_context_length=max_context_length,
        enable_prefix_caching=enable_prefix_caching,
    )
    return AsyncEngine(EngineCore(model, config), max_queue=max_queue)
