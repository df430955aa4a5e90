"""One assistant turn for every API: replay, render, context check, engine, harmony decoding.

See `pipeline.py` for the flow; front-ends (server/chat, server/responses, server/ollama, llm.py)
only translate requests into a `TurnSpec` and `TurnDelta`s into their answers.
"""

from gossamer.turn.errors import ContextOverflow, TurnError
from gossamer.turn.pipeline import PreparedTurn, Turn, TurnPipeline, TurnSpec, TurnUsage, decode_outputs
from gossamer.turn.sequence import TurnDelta

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
