"""Bounds on the JSON schemas a request brings (tool parameters, the answer's format).

Every schema is rendered into the prompt and compiled into a grammar, work that grows with its
size and nesting; bounding them keeps one request from holding a worker for long. Checked first
in `TurnPipeline.prepare`, before either; the error says which schema and which limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gossamer.grammar.errors import ConstraintError, Target
from gossamer.harmony.conversation import Conversation


@dataclass(frozen=True)
class SchemaLimits:
    max_depth: int = 64  # objects and arrays inside one another
    max_nodes: int = 20000  # objects and arrays in all


def check_schema_sizes(conv: Conversation, limits: SchemaLimits) -> None:
    """Raise ConstraintError (naming the tool, or the answer format) for a schema beyond the limits."""
    for index, tool in enumerate(conv.tools):
        _check(tool.parameters, limits, f"parameters of function '{tool.name}'", "tool", index)
    fmt = conv.response_format
    if isinstance(fmt, dict):
        spec = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else fmt
        _check(spec.get("schema"), limits, "answer format's schema", "answer", None)


def _check(schema: Any, limits: SchemaLimits, what: str, target: Target, index: int | None) -> None:
    # Iterative, stopping at the first limit passed: the walk costs no more than the limit allows.
    stack: list[tuple[Any, int]] = [(schema, 1)]
    num_nodes = 0
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        num_nodes += 1
        if depth > limits.max_depth:
            raise ConstraintError(
                f"The {what} nests deeper than {limits.max_depth} levels, the most this server takes "
                "(--max-schema-depth).",
                target,
                index,
            )
        if num_nodes > limits.max_nodes:
            raise ConstraintError(
                f"The {what} has more than {limits.max_nodes} objects and arrays, the most this server "
                "takes (--max-schema-nodes).",
                target,
                index,
            )
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)
