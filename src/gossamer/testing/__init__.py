"""Test helpers that ship with the package: synthetic checkpoints (no weights can be downloaded
in CI) and a scripted engine for API tests."""

from __future__ import annotations

from typing import Any

__all__ = ["write_checkpoint"]


def __getattr__(name: str) -> Any:
    # Lazy: importing gossamer.testing (e.g. for the scripted engine) must not pull in torch.
    if name == "write_checkpoint":
        from gossamer.testing.checkpoint import write_checkpoint

        return write_checkpoint
    raise AttributeError(name)
