"""What one MCP server is to the tool loop: where it is, how to reach it, which tools it may offer and
which of them need the user's approval; and the limits every call runs under.

`McpServer.headers` (tokens) are never shown: not in `repr`, so not in a log line or a traceback's
locals, and never copied into an item, a stored response or an error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from gossamer.harmony.render import RESERVED_NAMESPACES

Transport = Literal["auto", "streamable_http", "sse"]


@dataclass(frozen=True)
class McpLimits:
    timeout_s: float = 30.0  # one list or one call, connecting included
    max_output_bytes: int = 32 << 10  # of a call's result the model reads; the rest is cut
    max_tools: int = 128  # offered per server (the developer message grows with each)
    max_description_chars: int = 2000  # of one tool's description in the prompt


@dataclass(frozen=True)
class ToolInfo:
    """A tool as the server lists it (`tools/list`), in OpenAI's `MCPListToolsTool` terms."""

    name: str
    input_schema: dict[str, Any]
    description: str = ""
    annotations: dict[str, Any] | None = None

    @property
    def read_only(self) -> bool:
        return bool((self.annotations or {}).get("readOnlyHint"))

    def item(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description or None,
            "input_schema": self.input_schema,
            "annotations": self.annotations,
        }

    @classmethod
    def from_item(cls, raw: dict[str, Any]) -> ToolInfo | None:
        """From a stored or replayed `mcp_list_tools` item's entry; None when it is not one."""
        name, schema = raw.get("name"), raw.get("input_schema")
        if not isinstance(name, str) or not name or not isinstance(schema, dict):
            return None
        annotations = raw.get("annotations")
        description = raw.get("description")
        return cls(
            name,
            schema,
            description if isinstance(description, str) else "",
            annotations if isinstance(annotations, dict) else None,
        )


@dataclass(frozen=True)
class ToolFilter:
    """OpenAI's `MCPToolFilter`: tools named here and/or (with `read_only`) annotated read-only."""

    tool_names: frozenset[str] | None = None
    read_only: bool | None = None

    def matches(self, tool: ToolInfo) -> bool:
        if self.tool_names is not None and tool.name not in self.tool_names:
            return False
        return self.read_only is None or tool.read_only == self.read_only


@dataclass(frozen=True)
class ApprovalPolicy:
    """OpenAI's `require_approval`: "always" (its default), "never", or {always: filter, never: filter}.

    A tool that matches `never` runs without asking, one that matches `always` asks; a tool that
    matches neither asks (the default: a call that changes something runs only when approved).
    """

    default: Literal["always", "never"] = "always"
    always: ToolFilter | None = None
    never: ToolFilter | None = None

    def requires(self, tool: ToolInfo) -> bool:
        if self.never is not None and self.never.matches(tool):
            return False
        if self.always is not None and self.always.matches(tool):
            return True
        return self.default == "always"


NEVER = ApprovalPolicy("never")


@dataclass(frozen=True)
class McpServer:
    label: str  # OpenAI's server_label: names the server in items and errors
    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    allowed: ToolFilter | None = None  # None: every tool it lists
    approval: ApprovalPolicy = NEVER
    description: str = ""
    transport: Transport = "auto"
    # The operator's own (--mcp): reached wherever it is. A request's: public addresses only,
    # unless --mcp-allow-network says otherwise (network.py).
    trusted: bool = False

    def offers(self, tool: ToolInfo) -> bool:
        return self.allowed is None or self.allowed.matches(tool)

    def needs_approval(self, tool: ToolInfo) -> bool:
        return self.approval.requires(tool)


def namespace_for(label: str, taken: set[str]) -> str:
    """The harmony namespace of a server: its label as an identifier (`my-docs` -> `my_docs`), never
    one of harmony's own names (`functions`, `browser`, ...) nor one already `taken` (added to it)."""
    name = re.sub(r"\W", "_", label, flags=re.ASCII).strip("_") or "mcp"
    if name[0].isdigit():
        name = "mcp_" + name
    if name in RESERVED_NAMESPACES:
        name = "mcp_" + name
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def function_name(tool_name: str) -> str:
    """A tool's name as a harmony function name: `get-page` stays (hyphens parse), `a.b` or `a/b`
    become `a_b`, since a dot would end the namespace and the rest are not identifiers."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", tool_name) or "tool"
