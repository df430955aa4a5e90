"""Chat Completions request -> the API-neutral `Conversation` and `SamplingParams`, converted once.

Every check that depends on more than one field (a tool message answering no call, a named
tool_choice naming no tool, a schema that is not a schema) lives here and raises a 400 that
names the parameter.
"""

from __future__ import annotations

from typing import Any

from gossamer.engine.protocol import SamplingParams, StructuredOutputs
from gossamer.grammar.errors import ConstraintError
from gossamer.grammar.plan import completion_constraint
from gossamer.harmony.conversation import Conversation, FunctionTool, Message, ToolCallItem
from gossamer.server.chat.protocol import ChatCompletionRequest, ChatMessage, RefusalPart, TextPart
from gossamer.server.errors import invalid_param
from gossamer.server.schemas import check_json_schema
from gossamer.server.structured_outputs import structured_param, to_structured_outputs

# OpenAI's "none"/"minimal" have no harmony counterpart; the nearest is "low".
_EFFORTS = {"none": "low", "minimal": "low", "low": "low", "medium": "medium", "high": "high"}


def message_text(message: ChatMessage, param: str) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, RefusalPart) and message.role == "assistant":
            texts.append(part.refusal)  # what the model said, as it said it
        else:
            raise invalid_param(
                f"Content parts of type '{part.type}' are not supported here; send text.",
                f"{param}.content[{j}].type",
            )
    return "".join(texts)


def _open_call(call_names: dict[str, str], answered: set[str], name: str | None) -> str | None:
    """The latest call of function `name` that no result has answered yet."""
    return next((cid for cid, n in reversed(call_names.items()) if n == name and cid not in answered), None)


def to_messages(request: ChatCompletionRequest) -> list[Message]:
    messages: list[Message] = []
    call_names: dict[str, str] = {}  # tool call id -> function name, from earlier assistant turns
    answered: set[str] = set()  # call ids a result has answered
    for i, m in enumerate(request.messages):
        param = f"messages[{i}]"
        text = message_text(m, param)
        match m.role:
            case "system" | "developer" | "user":
                messages.append(Message(role=m.role, content=text))
            case "assistant":
                calls = []
                for j, call in enumerate(m.tool_calls or []):
                    if not call.id:
                        raise invalid_param("A tool call needs an id.", f"{param}.tool_calls[{j}].id")
                    call_names[call.id] = call.function.name
                    calls.append(ToolCallItem(call.id, call.function.name, call.function.arguments))
                if m.function_call is not None:  # the deprecated form: one call, no id
                    call_id = f"call_function_{i}"
                    call_names[call_id] = m.function_call.name
                    calls.append(ToolCallItem(call_id, m.function_call.name, m.function_call.arguments))
                text = text or m.refusal or ""
                # Empty or null content with no calls is a valid (empty) turn, as OpenAI accepts it:
                # clients replay the model's empty answers verbatim.
                reasoning = m.reasoning if m.reasoning is not None else m.reasoning_content
                messages.append(
                    Message(role="assistant", content=text, reasoning=reasoning, tool_calls=calls)
                )
            case "tool":
                if not m.tool_call_id:
                    raise invalid_param("A tool message needs 'tool_call_id'.", f"{param}.tool_call_id")
                if m.tool_call_id not in call_names:
                    raise invalid_param(
                        f"The tool message's tool_call_id '{m.tool_call_id}' answers no tool call of an "
                        "earlier assistant message.",
                        f"{param}.tool_call_id",
                    )
                name = call_names[m.tool_call_id]
                answered.add(m.tool_call_id)
                messages.append(Message(role="tool", content=text, tool_call_id=m.tool_call_id, name=name))
            case "function":
                # The deprecated result of a function_call: it names the function, not the call.
                call_id = _open_call(call_names, answered, m.name)
                if call_id is None:
                    raise invalid_param(
                        f"The function message names '{m.name}', which no earlier assistant message called.",
                        f"{param}.name",
                    )
                answered.add(call_id)
                messages.append(Message(role="tool", content=text, tool_call_id=call_id, name=m.name))
    if not any(m.role in ("user", "tool", "assistant") for m in messages):
        raise invalid_param("The messages need at least one user message.", "messages")
    return messages


def to_tools(request: ChatCompletionRequest) -> list[FunctionTool]:
    tools: list[FunctionTool] = []
    seen: set[str] = set()
    for i, tool in enumerate(request.tools or []):
        fn = tool.function
        param = f"tools[{i}].function"
        if fn.name in seen:
            raise invalid_param(
                f"Two tools are named '{fn.name}'; tool names must be unique.", f"{param}.name"
            )
        seen.add(fn.name)
        if fn.parameters is not None:
            check_json_schema(fn.parameters, f"{param}.parameters", must_be_object=True)
        tools.append(FunctionTool(fn.name, fn.description or "", fn.parameters, strict=fn.strict))
    return tools


def to_tool_choice(request: ChatCompletionRequest, tools: list[FunctionTool]) -> Any:
    choice = request.tool_choice
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        if choice == "required" and not tools:
            raise invalid_param("tool_choice 'required' needs at least one tool in 'tools'.", "tool_choice")
        return choice
    if choice.function.name not in {t.name for t in tools}:
        raise invalid_param(
            f"tool_choice names '{choice.function.name}', which is not in 'tools'.", "tool_choice"
        )
    return {"name": choice.function.name}


def to_response_format(request: ChatCompletionRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    assert fmt.json_schema is not None
    schema = fmt.json_schema.schema_ or {}
    check_json_schema(schema, "response_format.json_schema.schema")
    spec: dict[str, Any] = {"name": fmt.json_schema.name, "schema": schema}
    if fmt.json_schema.description:
        spec["description"] = fmt.json_schema.description
    if fmt.json_schema.strict is not None:
        spec["strict"] = fmt.json_schema.strict
    return {"type": "json_schema", "json_schema": spec}


def to_conversation(request: ChatCompletionRequest) -> Conversation:
    tools = to_tools(request)
    effort = request.reasoning_effort or (request.reasoning.effort if request.reasoning else None) or "medium"
    return Conversation(
        messages=to_messages(request),
        tools=tools,
        reasoning_effort=_EFFORTS[effort],  # type: ignore[arg-type]
        tool_choice=to_tool_choice(request, tools),
        response_format=to_response_format(request),
    )


def to_logit_bias(raw: dict[str, float] | None, vocab_size: int) -> dict[int, float]:
    bias: dict[int, float] = {}
    for key, value in (raw or {}).items():
        token_id = int(key)
        if not 0 <= token_id < vocab_size:
            raise invalid_param(
                f"logit_bias names token {token_id}, outside the vocabulary [0, {vocab_size}).", "logit_bias"
            )
        bias[token_id] = value
    return bias


def to_sampling_params(request: ChatCompletionRequest, vocab_size: int, max_n: int) -> SamplingParams:
    """The request's sampling; the turn pipeline adds harmony's stop tokens and settles max_tokens."""
    n = request.n or 1
    if n > max_n:
        raise invalid_param(f"n={n} is more than this server allows ({max_n}).", "n")
    if request.top_logprobs is not None and not request.logprobs:
        raise invalid_param("top_logprobs needs logprobs set to true.", "top_logprobs")
    logprobs = (request.top_logprobs or 0) if request.logprobs else None
    max_tokens = (
        request.max_completion_tokens if request.max_completion_tokens is not None else request.max_tokens
    )
    return SamplingParams(
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        seed=request.seed,
        max_tokens=max_tokens,
        presence_penalty=request.presence_penalty or 0.0,
        frequency_penalty=request.frequency_penalty or 0.0,
        logit_bias=to_logit_bias(request.logit_bias, vocab_size),
        logprobs=logprobs,
        n=n,
        structured_outputs=checked_structured_outputs(request),
        thinking_token_budget=request.thinking_token_budget,
    )


def checked_structured_outputs(request: ChatCompletionRequest) -> StructuredOutputs | None:
    """vLLM's structured outputs for the final answer, compiled once here so that a bad one is a 400
    naming its own field (the turn reuses the compiled grammar from the cache)."""
    outputs = to_structured_outputs(request)
    if outputs is not None:
        try:
            completion_constraint(outputs)
        except ConstraintError as exc:
            raise invalid_param(str(exc), structured_param(request)) from exc
    return outputs


def stop_strings(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)
