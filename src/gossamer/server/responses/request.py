"""Convert a validated create request once: tools, tool_choice, effort, format -> harmony Conversation.

Also builds the initial response object, whose echo of the request fields is what the spec
requires on every response (tools, tool_choice, temperature, top_p, ...).
"""

from __future__ import annotations

import time
from typing import Any

from gossamer.harmony.conversation import Conversation, FunctionTool, Message, ReasoningEffort, ToolChoice
from gossamer.server.responses.builtin_tools import HOSTED_TYPES
from gossamer.server.responses.errors import bad_request
from gossamer.server.responses.items import new_id
from gossamer.server.responses.mcp_tools import echo as mcp_echo
from gossamer.server.responses.protocol import KNOWN_INCLUDES, CreateResponseRequest, ResponseObject

# OpenAI's efforts beyond gpt-oss's three map to the nearest one gpt-oss knows.
_EFFORTS: dict[str, ReasoningEffort] = {
    "none": "low",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}


def function_tools(raw_tools: list[dict[str, Any]] | None) -> tuple[list[FunctionTool], list[dict[str, Any]]]:
    """The harmony tools and their echo in the response (`{"type": "function", ...}` each)."""
    tools, echo = [], []
    for index, tool in enumerate(raw_tools or []):
        param = f"tools[{index}]"
        if tool.get("type") in HOSTED_TYPES:  # run by the server (builtin_tools.py): echoed as sent
            echo.append(dict(tool))
            continue
        if tool.get("type") == "mcp":  # run by the server (mcp_tools.py): echoed without its secrets
            echo.append(mcp_echo(tool))
            continue
        if tool.get("type") != "function":
            raise bad_request(
                f"{param}: tool type {tool.get('type')!r} is not supported; function, web_search, "
                "code_interpreter and mcp tools are.",
                param=f"{param}.type",
                code="unsupported_tool_type",
            )
        spec = tool.get("function", tool)  # a Chat Completions-style tool nests its fields
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request(f"{param}.name is required.", param=f"{param}.name")
        parameters = spec.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise bad_request(
                f"{param}.parameters must be a JSON schema object.", param=f"{param}.parameters"
            )
        description = spec.get("description") or ""
        strict = spec.get("strict")
        tools.append(FunctionTool(name=name, description=description, parameters=parameters,
                                  strict=strict if isinstance(strict, bool) else None))
        echo.append(
            {
                "type": "function",
                "name": name,
                "description": description or None,
                "parameters": parameters,
                "strict": bool(spec.get("strict", True)),
            }
        )
    return tools, echo


def tool_choice(raw: str | dict[str, Any] | None, tools: list[FunctionTool]) -> ToolChoice:
    if raw is None:
        return "auto"
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required"):
            raise bad_request(
                f"tool_choice must be auto, none or required; got {raw!r}.", param="tool_choice"
            )
        if raw == "required" and not tools:
            raise bad_request("tool_choice 'required' needs at least one tool.", param="tool_choice")
        return raw  # type: ignore[return-value]
    name = raw.get("name") if raw.get("type") == "function" else None
    if not isinstance(name, str):
        raise bad_request(
            "tool_choice must be 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": ...}.",
            param="tool_choice",
        )
    if name not in {tool.name for tool in tools}:
        raise bad_request(f"tool_choice names function '{name}', which is not in tools.", param="tool_choice")
    return {"name": name}


def response_format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_schema":
        if not isinstance(fmt.get("schema"), dict):
            raise bad_request(
                "text.format of type json_schema needs a 'schema' object.", param="text.format.schema"
            )
        return fmt
    if fmt.get("type") == "json_object":
        return fmt
    raise bad_request(f"text.format type {fmt.get('type')!r} is not supported.", param="text.format.type")


def check_include(include: list[str] | None) -> None:
    for index, value in enumerate(include or []):
        if value not in KNOWN_INCLUDES:
            raise bad_request(
                f"include[{index}]: unknown value {value!r}. Known: {', '.join(sorted(KNOWN_INCLUDES))}.",
                param=f"include[{index}]",
            )


def check_metadata(metadata: dict[str, str] | None) -> None:
    """OpenAI's limits: at most 16 pairs, keys up to 64 characters, values up to 512."""
    if not metadata:
        return
    if len(metadata) > 16:
        raise bad_request(f"metadata has {len(metadata)} keys; at most 16 are allowed.", param="metadata")
    for key, value in metadata.items():
        if len(key) > 64 or len(value) > 512:
            raise bad_request(
                f"metadata key {key[:64]!r}: keys hold at most 64 characters and values 512.",
                param="metadata",
            )


def conversation_param(req: CreateResponseRequest) -> str | None:
    """The id of the conversation the response belongs to (`"conv_..."` or `{"id": "conv_..."}`)."""
    raw = req.conversation
    if raw is None:
        return None
    conversation_id = raw.get("id") if isinstance(raw, dict) else raw
    if not isinstance(conversation_id, str) or not conversation_id:
        raise bad_request(
            "conversation must be a conversation id or an object with its 'id'.", param="conversation"
        )
    if req.previous_response_id is not None:  # OpenAI's rule: one way of carrying state at a time
        raise bad_request(
            "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' "
            "or 'conversation'.",
            param="conversation",
        )
    return conversation_id


def to_conversation(req: CreateResponseRequest, messages: list[Message]) -> Conversation:
    tools, _ = function_tools(req.tools)
    effort = (req.reasoning.effort if req.reasoning else None) or "medium"
    return Conversation(
        messages=messages,
        tools=tools,
        reasoning_effort=_EFFORTS[effort],
        instructions=req.instructions,
        tool_choice=tool_choice(req.tool_choice, tools),
        response_format=response_format(req.text.format if req.text else None),
    )


def new_response(
    req: CreateResponseRequest, model_name: str, conversation_id: str | None = None
) -> dict[str, Any]:
    """The response object before any output: `queued` for background requests, else `in_progress`."""
    _, tools_echo = function_tools(req.tools)
    effort = req.reasoning.effort if req.reasoning else None
    text_format = req.text.format if req.text and req.text.format else {"type": "text"}
    return ResponseObject(
        id=new_id("resp"),
        created_at=int(time.time()),
        status="queued" if req.background else "in_progress",
        background=bool(req.background),
        instructions=req.instructions,
        max_output_tokens=req.max_output_tokens,
        model=model_name,
        parallel_tool_calls=True if req.parallel_tool_calls is None else req.parallel_tool_calls,
        previous_response_id=req.previous_response_id,
        reasoning={"effort": _EFFORTS[effort] if effort else "medium", "summary": None},
        store=True if req.store is None else req.store,
        temperature=1.0 if req.temperature is None else req.temperature,
        text={"format": text_format},
        tool_choice=req.tool_choice if req.tool_choice is not None else "auto",
        tools=tools_echo,
        top_logprobs=req.top_logprobs,
        top_p=1.0 if req.top_p is None else req.top_p,
        truncation=req.truncation or "disabled",
        user=req.user,
        metadata=req.metadata or {},
        conversation={"id": conversation_id} if conversation_id is not None else None,
    ).to_dict()
