"""Run an Ollama chat or generate request on the engine and shape the NDJSON chunks.

Request flow: convert (request -> Conversation) -> the turn pipeline (replay, render, context,
engine, harmony events) -> Ollama chunks. Chain of thought goes to `message.thinking` (chat) or
`thinking` (generate); function calls arrive whole in `message.tool_calls`, with parsed arguments,
as Ollama sends them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from gossamer.engine.protocol import QueueFull, RequestRejected
from gossamer.grammar.errors import ConstraintError
from gossamer.harmony.conversation import Conversation
from gossamer.harmony.events import (
    ContentDelta,
    Event,
    Finished,
    FinishReason,
    PreambleDelta,
    ReasoningDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from gossamer.harmony.render import RenderError
from gossamer.server.generation import new_request_id
from gossamer.server.ollama.convert import (
    OllamaError,
    chat_conversation,
    generate_conversation,
    sampling_params,
    think_mode,
)
from gossamer.server.ollama.protocol import ChatRequest, GenerateRequest, Options, Think
from gossamer.server.server_tools import offer, request_toolbox, with_loop
from gossamer.server.state import ServerState
from gossamer.tools.browser.citations import CitationStream
from gossamer.tools.events import ServerToolFinished
from gossamer.tools.toolbox import ToolBox
from gossamer.turn import ContextOverflow, Turn, TurnSpec
from gossamer.turn.generation import Generation
from gossamer.turn.prompt import check_fits, resolve_params
from gossamer.turn.sequence import engine_finish_reason
from gossamer.turn.stop_strings import StopMatcher


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _arguments(text: str) -> dict[str, Any]:
    # Ollama's clients expect an object; a model that wrote broken JSON still gets its text back.
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {"__raw__": text}
    return value if isinstance(value, dict) else {"value": value}


@dataclass
class _Timing:
    start_s: float = field(default_factory=time.perf_counter)

    def stats(self, gen: Generation) -> dict[str, int]:
        end = time.perf_counter()
        first = gen.first_token_s or end
        num_prompt_tokens, num_output_tokens = gen.num_prompt_tokens, gen.num_generated_tokens
        return {
            "total_duration": int((end - self.start_s) * 1e9),
            "load_duration": 0,
            "prompt_eval_count": num_prompt_tokens,
            "prompt_eval_duration": int((first - self.start_s) * 1e9),
            "eval_count": num_output_tokens,
            "eval_duration": int((end - first) * 1e9),
        }


def _served_name(state: ServerState, requested: str) -> str:
    if state.resolve_model(requested) is None:
        raise OllamaError(404, f"model '{requested}' not found: this server runs '{state.model_name}'")
    return requested


def _context_error(exc: ContextOverflow) -> OllamaError:
    return OllamaError(
        400,
        f"the prompt is {exc.num_prompt_tokens} tokens, more than the context of "
        f"{exc.max_context_length} (num_ctx); shorten it or raise num_ctx",
    )


def _engine_error(exc: RequestRejected | QueueFull) -> OllamaError:
    return OllamaError(429 if isinstance(exc, QueueFull) else 400, str(exc))


async def _start_turn(state: ServerState, spec: Callable[[], TurnSpec]) -> Turn:
    """Prepare and start a turn; Ollama's errors for what cannot run."""
    try:
        prepared = await state.pipeline.prepare_async(spec)
    except (RenderError, ConstraintError) as exc:
        raise OllamaError(400, str(exc)) from exc
    except ContextOverflow as exc:
        raise _context_error(exc) from exc
    try:
        return await state.pipeline.start(prepared, new_request_id("ollama"))
    except (RequestRejected, QueueFull) as exc:
        raise _engine_error(exc) from exc


@dataclass
class _Delta:
    thinking: str = ""
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    server_tool_calls: list[dict[str, Any]] = field(default_factory=list)  # docs/builtin-tools.md


class _Translator:
    """The turn's events -> Ollama deltas."""

    def __init__(self, show_thinking: bool, citations: CitationStream | None = None) -> None:
        self.show_thinking = show_thinking
        # Ollama has no annotations: the browser's citations become Markdown links in the text.
        self.citations = citations
        self.calls: dict[int, tuple[str, str]] = {}  # index -> (call_id, name)
        self.finish_reason: FinishReason | None = None

    def translate(self, events: list[Event]) -> _Delta:
        delta = _Delta()
        for event in events:
            match event:
                case ReasoningDelta(text=text) if self.show_thinking:
                    delta.thinking += text
                case ContentDelta(text=text) if self.citations is not None:
                    delta.content += self.citations.push(text)[0]
                case ContentDelta(text=text) | PreambleDelta(text=text):
                    delta.content += text
                case ServerToolFinished():
                    delta.server_tool_calls.append(event.record())
                case ToolCallStarted(index=index, call_id=call_id, name=name):
                    self.calls[index] = (call_id, name)
                case ToolCallFinished(index=index, arguments=arguments):
                    call_id, name = self.calls[index]
                    delta.tool_calls.append(
                        {
                            "id": call_id,
                            "function": {"index": index, "name": name, "arguments": _arguments(arguments)},
                        }
                    )
                case Finished(reason=reason):
                    if self.citations is not None:
                        delta.content += self.citations.flush()[0]
                    self.finish_reason = reason
        return delta


def _done_reason(reason: FinishReason | None) -> str:
    if reason in (None, FinishReason.STOP, FinishReason.TOOL_CALLS):
        return "stop"
    return str(reason)  # "length", "abort"


async def _run_conversation(
    state: ServerState,
    conversation: Callable[[], Conversation],
    options: Options,
    think: Think,
    tenant: str,
    toolbox: ToolBox | None = None,
) -> AsyncIterator[tuple[_Delta, dict[str, Any] | None]]:
    """Run one chat or generate request as a turn: yield (delta, None) while generating, then
    (last delta, final stats) once."""
    timing = _Timing()

    def spec() -> TurnSpec:  # built in the worker thread, off the event loop
        return TurnSpec(
            offer(conversation(), toolbox),
            sampling_params(options),
            stop_strings=tuple(options.stop or ()),
            clip_max_tokens=True,
            max_context_length=options.num_ctx,
            tenant=tenant,
        )

    turn = with_loop(state, toolbox, await _start_turn(state, spec))
    citations = CitationStream(toolbox.cite) if toolbox is not None and "browser" in toolbox.names else None
    translator = _Translator(think_mode(think).show, citations)
    last = _Delta()
    try:
        async for turn_delta in turn.deltas():
            delta = translator.translate(turn_delta.events)
            if turn_delta.finished is not None:
                last = delta
                break
            if delta.thinking or delta.content or delta.tool_calls or delta.server_tool_calls:
                yield delta, None
    finally:
        await turn.close()
    final = {"done_reason": _done_reason(translator.finish_reason), **timing.stats(turn.generation)}
    yield last, final


def _message(delta: _Delta) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": delta.content}
    if delta.thinking:
        message["thinking"] = delta.thinking
    if delta.tool_calls:
        message["tool_calls"] = delta.tool_calls
    if delta.server_tool_calls:
        message["server_tool_calls"] = delta.server_tool_calls
    return message


async def chat(state: ServerState, req: ChatRequest, tenant: str = "") -> AsyncIterator[dict[str, Any]]:
    """Chunks of a chat: many when streaming; the caller folds them when `stream` is false."""
    model = _served_name(state, req.model)
    if not req.messages:
        # Ollama answers an empty chat by loading the model and returning at once.
        yield {
            "model": model,
            "created_at": now_iso(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "load",
        }
        return
    # aclosing: a client that hangs up closes this generator, and with it the engine request at once.
    conversation = partial(chat_conversation, req)
    toolbox = await request_toolbox(state)  # the server's built-in and MCP tools, run server-side
    run = _run_conversation(state, conversation, req.options, req.think, tenant, toolbox)
    async with aclosing(run) as deltas:
        async for delta, final in deltas:
            chunk: dict[str, Any] = {"model": model, "created_at": now_iso(), "message": _message(delta)}
            if final is None:
                yield {**chunk, "done": False}
            else:
                yield {**chunk, "done": True, **final}


async def generate(
    state: ServerState, req: GenerateRequest, tenant: str = ""
) -> AsyncIterator[dict[str, Any]]:
    model = _served_name(state, req.model)
    if not req.prompt:
        yield {"model": model, "created_at": now_iso(), "response": "", "done": True, "done_reason": "load"}
        return
    if req.raw:
        async with aclosing(_generate_raw(state, req, model)) as chunks:
            async for chunk in chunks:
                yield chunk
        return
    conversation = partial(generate_conversation, req)
    async with aclosing(_run_conversation(state, conversation, req.options, req.think, tenant)) as deltas:
        async for delta, final in deltas:
            chunk: dict[str, Any] = {"model": model, "created_at": now_iso(), "response": delta.content}
            if delta.thinking:
                chunk["thinking"] = delta.thinking
            yield {**chunk, "done": False} if final is None else {**chunk, "done": True, **final}


async def _generate_raw(
    state: ServerState, req: GenerateRequest, model: str
) -> AsyncIterator[dict[str, Any]]:
    """`raw: true`: the prompt is the whole input (special tokens allowed); the text comes back as is."""
    from gossamer.server.detokenizer import IncrementalDetokenizer

    encoding = state.encoding
    # Encoding grows with the prompt: in a worker thread (and a large one in the render pool).
    prompt_ids = list(req.context or []) + await asyncio.to_thread(state.pipeline.encode, req.prompt or "")
    stop_ids = list(encoding.stop_tokens_for_assistant_actions())
    engine_limit = state.max_context_length
    limit = min(req.options.num_ctx or engine_limit, engine_limit)
    try:
        check_fits(len(prompt_ids), limit)
    except ContextOverflow as exc:
        raise _context_error(exc) from exc
    params = resolve_params(
        sampling_params(req.options), len(prompt_ids), stop_ids, limit, engine_limit, clip_max_tokens=True
    )
    timing = _Timing()
    try:
        request_id = new_request_id("ollama")
        gen = await Generation.start(state.engine, request_id, prompt_ids, params, state.metrics)
    except (RequestRejected, QueueFull) as exc:
        raise _engine_error(exc) from exc
    detok = IncrementalDetokenizer()
    matcher = StopMatcher(req.options.stop or [])
    output_ids: list[int] = []
    finish_reason = "stop"
    try:
        async for output in gen:
            ids = [t for t in output.token_ids if t not in stop_ids]
            output_ids += output.token_ids
            text = matcher.push(detok.push(ids))
            if output.finished:
                finish_reason = _done_reason(engine_finish_reason(output))
                tail = text + matcher.push(detok.flush()) + matcher.flush()
                break
            if matcher.stopped:
                tail = text
                break
            if text:
                yield {"model": model, "created_at": now_iso(), "response": text, "done": False}
        else:
            tail = matcher.push(detok.flush()) + matcher.flush()
    finally:
        await gen.close()
    yield {
        "model": model,
        "created_at": now_iso(),
        "response": tail,
        "done": True,
        "done_reason": finish_reason,
        "context": prompt_ids + output_ids,
        **timing.stats(gen),
    }


def fold_chat(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streaming chat response: the final chunk carrying the whole message."""
    final = dict(chunks[-1])
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(c["message"].get("content", "") for c in chunks),
    }
    thinking = "".join(c["message"].get("thinking", "") for c in chunks)
    if thinking:
        message["thinking"] = thinking
    calls = [call for c in chunks for call in c["message"].get("tool_calls", [])]
    if calls:
        message["tool_calls"] = calls
    if server_calls := [call for c in chunks for call in c["message"].get("server_tool_calls", [])]:
        message["server_tool_calls"] = server_calls
    final["message"] = message
    return final


def fold_generate(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    final = dict(chunks[-1])
    final["response"] = "".join(c.get("response", "") for c in chunks)
    thinking = "".join(c.get("thinking", "") for c in chunks)
    if thinking:
        final["thinking"] = thinking
    return final
