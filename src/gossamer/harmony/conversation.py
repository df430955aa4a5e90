"""An API-neutral conversation: what Chat Completions, Responses and Ollama requests convert into.

Each API converts its request once into these dataclasses; `render.render_conversation` turns them
into harmony token ids. Nothing here knows about any HTTP API or about harmony's token format.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "developer", "user", "assistant", "tool"]
ReasoningEffort = Literal["low", "medium", "high"]
BuiltinTool = Literal["browser", "python"]
# "auto" | "none" | "required" | {"name": "get_weather"} (a named function must be called)
ToolChoice = Literal["auto", "none", "required"] | dict[str, str]


def new_call_id() -> str:
    """A fresh tool-call id in OpenAI's shape (`call_` + random)."""
    return "call_" + secrets.token_hex(12)


@dataclass
class ToolCallItem:
    """A call the assistant made: a function (`get_weather`), a built-in (`browser.search`, `python`)
    or a function of another namespace, named with it (an MCP server's `docs.search`)."""

    call_id: str
    name: str
    arguments: str  # JSON text for functions, raw input (code) for python


@dataclass
class Message:
    role: Role
    content: str = ""
    reasoning: str | None = None  # assistant chain of thought (harmony `analysis` channel)
    tool_calls: list[ToolCallItem] = field(default_factory=list)
    tool_call_id: str | None = None  # tool results: the call answered
    name: str | None = None  # tool results: the function name (found from tool_call_id when absent)


def last_answer_index(messages: list[Message]) -> int | None:
    """Index of the last assistant message that ended its turn (it calls no tool), if any.

    Harmony drops the chain of thought of every turn up to it; the reasoning of a tool-call chain
    still in progress after it goes back to the model. An empty answer ends a turn too.
    """
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "assistant" and not messages[i].tool_calls:
            return i
    return None


@dataclass
class FunctionTool:
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None  # JSON schema of the arguments object
    # OpenAI's strict: True refuses a schema the constraint cannot enforce; None/False enforces what
    # it can (the arguments follow the schema either way when it compiles).
    strict: bool | None = None


def is_namespaced_call(name: str) -> bool:
    """`docs.search`: a function in a namespace of its own (not `functions`, not a built-in tool)."""
    namespace, dot, _ = name.partition(".")
    return bool(dot) and namespace not in ("functions", "browser", "python", "container")


@dataclass
class FunctionNamespace:
    """Functions under a harmony namespace of their own, beside `functions` in the developer message:
    an MCP server's tools (`namespace docs { type search = ... }`), which the model calls as
    `docs.search` and the server runs. Their names are bare (`search`)."""

    name: str
    description: str = ""
    tools: list[FunctionTool] = field(default_factory=list)

    def recipients(self) -> list[str]:
        return [f"{self.name}.{tool.name}" for tool in self.tools]


@dataclass(frozen=True)
class ToolNamespace:
    """How a tool the server runs is described in harmony's system message (`## name`)."""

    name: str  # "browser", "python": the recipient's namespace
    description: str  # the `//` comment block (browser) or the paragraph (python) under the heading


@dataclass
class Conversation:
    messages: list[Message] = field(default_factory=list)
    tools: list[FunctionTool] = field(default_factory=list)
    builtin_tools: list[BuiltinTool] = field(default_factory=list)
    # Descriptions of built-in tools that replace openai-harmony's defaults (a server-run python is
    # stateless, not the Jupyter notebook the default describes), keyed by the tool's name.
    tool_namespaces: dict[str, ToolNamespace] = field(default_factory=dict)
    function_namespaces: list[FunctionNamespace] = field(default_factory=list)  # MCP servers' tools
    reasoning_effort: ReasoningEffort = "medium"
    instructions: str | None = None  # developer instructions besides any system/developer messages
    tool_choice: ToolChoice = "auto"
    # {"type": "json_schema", "json_schema": {"name", "schema", "description"?}} (Chat Completions) or
    # {"type": "json_schema", "name", "schema", ...} (Responses) or {"type": "json_object"}
    response_format: dict[str, Any] | None = None
    current_date: str | None = None  # "YYYY-MM-DD"
    knowledge_cutoff: str = "2024-06"
    model_identity: str = "You are ChatGPT, a large language model trained by OpenAI."
