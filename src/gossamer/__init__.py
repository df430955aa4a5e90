"""Gossamer: run OpenAI's gpt-oss models locally and serve them through familiar APIs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gossamer.llm import LLM

__all__ = ["LLM", "__version__"]


def __getattr__(name: str) -> Any:
    # torch is heavy: import the model stack only when the Python API is used.
    if name == "LLM":
        from gossamer.llm import LLM

        return LLM
    raise AttributeError(name)
