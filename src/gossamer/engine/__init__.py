"""The engine: scheduling, KV cache, model running and sampling behind an async interface.

`build_engine` imports torch and the model lazily, so importing `gossamer.engine` (for the
protocol types) stays cheap for the server and for tests that use a scripted engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gossamer.engine.config import EngineConfig
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
    "EngineConfig",
    "EngineStats",
    "QueueFull",
    "RequestOutput",
    "RequestRejected",
    "SamplingParams",
    "TokenLogprob",
    "build_engine",
]


def build_engine(model_path: str | Path, config: EngineConfig | None = None) -> AsyncEngine:
    """Load the model at `model_path` and start an engine over it (its thread starts now)."""
    import torch

    from gossamer.engine.async_engine import AsyncEngine
    from gossamer.engine.engine import EngineCore
    from gossamer.model.loader import load_model

    config = config or EngineConfig()
    dtypes = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}
    if config.dtype not in dtypes:
        raise ValueError(f"dtype must be one of {sorted(dtypes)}, got {config.dtype!r}")
    model = load_model(model_path, dtype=dtypes[config.dtype], device=config.device)
    return AsyncEngine(EngineCore(model, config))
