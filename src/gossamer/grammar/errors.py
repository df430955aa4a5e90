"""What a constraint refuses before any token: each API turns it into a 400 naming its parameter."""

from __future__ import annotations

from typing import Literal

from gossamer.errors import GossamerError

# What the request got wrong, in no API's terms: the answer's format, or one tool's parameters.
Target = Literal["answer", "tool"]


class ConstraintError(GossamerError, ValueError):
    """An invalid schema, a keyword `strict` cannot enforce, a regex or grammar that does not compile.

    target/tool_index say which part of the request is at fault (`tool_index` counts the
    conversation's function tools, in order); each front-end maps that to its parameter name.
    """

    def __init__(self, message: str, target: Target, tool_index: int | None = None) -> None:
        super().__init__(message)
        self.target = target
        self.tool_index = tool_index
