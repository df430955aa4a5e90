"""One assistant turn for every API: replay, render, context check, engine, harmony decoding.

See `pipeline.py` for the flow; front-ends (server/chat, server/responses, server/ollama, llm.py)
only translate requests into a `TurnSpec` and `TurnDelta`s into their answers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gossamer.turn.errors import ContextOverflow, TurnError

if TYPE_CHECKING:
    from gossamer.turn.pipeline import PreparedTurn, Turn, TurnPipeline, TurnSpec, TurnUsage, decode_outputs
    from gossamer.turn.sequence import TurnDelta

# Loaded on first use (PEP 562): a render process imports gossamer.turn.prompt without the
# pipeline's grammar engine and the rest.
_LAZY = {
    "PreparedTurn": "pipeline",
    "Turn": "pipeline",
    "TurnPipeline": "pipeline",
    "TurnSpec": "pipeline",
    "TurnUsage": "pipeline",
    "decode_outputs": "pipeline",
    "TurnDelta": "sequence",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"gossamer.turn.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'gossamer.turn' has no attribute {name!r}")

__all__ = [
    "ContextOverflow",
    "PreparedTurn",
    "Turn",
    "TurnDelta",
    "TurnError",
    "TurnPipeline",
    "TurnSpec",
    "TurnUsage",
    "decode_outputs",
]
