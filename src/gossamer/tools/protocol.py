"""What a tool the server runs looks like to the loop: a harmony namespace, and `run(call) -> result`.

The model addresses a tool by recipient (`browser.search`, `python`); the tool reads the raw text
the model wrote (JSON arguments for the browser, code for python) and answers with the text the
model reads next, as the tool's harmony message. A tool never raises for what the model did
wrong: a bad argument, a page that does not load or code that crashes is a result with
`status="failed"` whose output says why, so the model can try again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gossamer.harmony.conversation import ToolNamespace


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    recipient: str  # "browser.search", "python", ...: the harmony recipient the model wrote
    arguments: str  # raw body: JSON text for the browser, source code for python

    @property
    def namespace(self) -> str:
        return self.recipient.split(".", 1)[0]

    @property
    def function(self) -> str:
        """`search` for `browser.search`; "" for a namespace called directly (`python`)."""
        return self.recipient.partition(".")[2]


@dataclass
class ToolResult:
    output: str  # what the model reads: the tool's message in the conversation
    status: Literal["completed", "failed"] = "completed"
    # For the APIs and the store, never shown to the model: the browser's action and page (url,
    # title, cursor), python's logs and exit status, timings.
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, message: str, **details: Any) -> ToolResult:
        return cls(output=message, status="failed", details={"error": message, **details})


class ServerTool(Protocol):
    """One tool namespace the server runs for the model."""

    name: str  # the namespace: "browser", "python"

    def namespace(self) -> ToolNamespace:
        """Its description in the system message."""
        ...

    async def run(self, call: ToolCall) -> ToolResult:
        """Execute one call; failures are results, not exceptions (see the module docstring)."""
        ...
