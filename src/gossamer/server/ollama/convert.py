"""Ollama requests -> API-neutral conversations and sampling parameters (pure functions)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gossamer.engine.protocol import SamplingParams
from gossamer.harmony.conversation import Conversation, FunctionTool, Message, ToolCallItem, new_call_id
from gossamer.server.ollama.protocol import ChatMessage, ChatRequest, GenerateRequest, Options, Think


class OllamaError(Exception):
    """An error for the client in Ollama's shape: `{"error": message}` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ThinkMode:
    effort: str  # harmony reasoning effort
    show: bool  # whether `thinking` is returned


def think_mode(think: Think) -> ThinkMode:
    """gpt-oss always reasons: `think` picks how hard; `false` only hides the thinking (as Ollama does)."""
    if think is None or think is True:
        return ThinkMode("medium", True)
    if think is False:
        return ThinkMode("low", False)
    return ThinkMode(think, True)


def _response_format(fmt: str | dict | None) -> dict | None:
    if not fmt:
        return None
    if fmt == "json":
        return {"type": "json_object"}
    if isinstance(fmt, dict):
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt}}
    raise OllamaError(400, f'invalid format {fmt!r}: use "json" or a JSON schema object')


def _arguments_text(arguments: dict | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _messages(raw: list[ChatMessage]) -> list[Message]:
    out: list[Message] = []
    # Ollama's tool results name the function, not the call: answer the oldest open call of that name.
    open_calls: list[ToolCallItem] = []
    for i, m in enumerate(raw):
        if m.images:
            raise OllamaError(400, f"messages[{i}]: images are not supported by gpt-oss")
        content = m.content or ""
        if m.role == "assistant":
            calls = [
                ToolCallItem(c.id or new_call_id(), c.function.name, _arguments_text(c.function.arguments))
                for c in m.tool_calls or []
            ]
            open_calls += calls
            out.append(Message("assistant", content, reasoning=m.thinking or None, tool_calls=calls))
        elif m.role == "tool":
            call = None
            if m.tool_call_id:
                call = next((c for c in open_calls if c.call_id == m.tool_call_id), None)
            if call is None and m.tool_name:
                call = next((c for c in open_calls if c.name == m.tool_name), None)
            if call is None and open_calls:
                call = open_calls[0]
            if call is None:
                raise OllamaError(400, f"messages[{i}]: a tool result with no tool call before it")
            open_calls.remove(call)
            out.append(Message("tool", content, tool_call_id=call.call_id, name=m.tool_name or call.name))
        else:
            out.append(Message(m.role, content))
    return out


def chat_conversation(req: ChatRequest) -> Conversation:
    mode = think_mode(req.think)
    tools = [
        FunctionTool(t.function.name, t.function.description or "", t.function.parameters)
        for t in req.tools or []
    ]
    return Conversation(
        messages=_messages(req.messages),
        tools=tools,
        reasoning_effort=mode.effort,
        response_format=_response_format(req.format),
    )


def generate_conversation(req: GenerateRequest) -> Conversation:
    messages = [Message("system", req.system)] if req.system else []
    messages.append(Message("user", req.prompt or ""))
    return Conversation(
        messages=messages,
        reasoning_effort=think_mode(req.think).effort,
        response_format=_response_format(req.format),
    )


def sampling_params(options: Options) -> SamplingParams:
    """Ollama options -> SamplingParams. The context (num_ctx) is the turn pipeline's: a prompt
    longer than it is refused, never cut, and the output stops where the context ends."""
    max_tokens = None
    if options.num_predict is not None and options.num_predict >= 0:
        # The engine generates at least one token; num_predict 0 still yields that one.
        max_tokens = max(options.num_predict, 1)
    defaults = SamplingParams()
    return SamplingParams(
        temperature=defaults.temperature if options.temperature is None else options.temperature,
        top_p=defaults.top_p if options.top_p is None else options.top_p,
        top_k=options.top_k or None,
        min_p=options.min_p or 0.0,
        seed=options.seed,
        max_tokens=max_tokens,
        presence_penalty=options.presence_penalty or 0.0,
        frequency_penalty=options.frequency_penalty or 0.0,
    )
