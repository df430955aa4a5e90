"""Turns and engine requests seen from HTTP: refusals as OpenAI errors, usage, client disconnects.

The work itself is `gossamer.turn` (a whole assistant turn) or `gossamer.turn.generation`
(a raw engine request, for Completions); this module only adds what HTTP needs around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from gossamer.engine.protocol import QueueFull, RequestRejected, SamplingParams
from gossamer.grammar.errors import ConstraintError
from gossamer.harmony.render import RenderError
from gossamer.server.errors import APIError, from_context_overflow, from_engine_error, invalid_param
from gossamer.server.state import ServerState
from gossamer.turn.errors import ContextOverflow
from gossamer.turn.generation import Generation
from gossamer.turn.pipeline import PreparedTurn, Turn, TurnSpec

T = TypeVar("T")


def token_usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int) -> dict[str, Any]:
    """OpenAI's `usage` object of Chat Completions and Completions."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }


def new_request_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ParamNames:
    """An API's names for what a turn can be refused over."""

    prompt: str  # the conversation: "messages", "input"
    output: str  # the output limit: "max_tokens", "max_output_tokens"
    answer_format: str = "response_format.json_schema.schema"  # the answer format's (its schema)
    tool_parameters: str = "tools[{index}].function.parameters"  # a function tool's schema

    def of_constraint(self, exc: ConstraintError) -> str:
        """The parameter a ConstraintError is about."""
        if exc.target == "tool" and exc.tool_index is not None:
            return self.tool_parameters.format(index=exc.tool_index)
        return self.answer_format


async def prepare_turn(
    state: ServerState, spec: TurnSpec | Callable[[], TurnSpec], names: ParamNames
) -> PreparedTurn:
    """Convert (when `spec` is a function), replay, render and fit off the event loop; what cannot
    run is a 400 naming the parameter."""
    try:
        return await state.pipeline.prepare_async(spec)
    except RenderError as exc:
        raise invalid_param(str(exc), names.prompt) from exc
    except ContextOverflow as exc:
        raise from_context_overflow(exc, names.prompt, names.output) from exc
    except ConstraintError as exc:
        raise invalid_param(str(exc), names.of_constraint(exc)) from exc


async def start_turn(state: ServerState, prepared: PreparedTurn, request_id: str, names: ParamNames) -> Turn:
    try:
        return await state.pipeline.start(prepared, request_id)
    except (RequestRejected, QueueFull) as exc:
        raise from_engine_error(exc, {"prompt_ids": names.prompt, "max_tokens": names.output}) from exc


async def start_generation(
    state: ServerState, request_id: str, prompt_ids: list[int], params: SamplingParams, prompt_param: str
) -> Generation:
    """Start a raw engine request (Completions); the engine's refusals become OpenAI errors."""
    try:
        return await Generation.start(state.engine, request_id, prompt_ids, params, state.metrics)
    except (RequestRejected, QueueFull) as exc:
        raise from_engine_error(exc, {"prompt_ids": prompt_param}) from exc


def check_context(num_prompt_tokens: int, max_tokens: int | None, max_context: int, param: str) -> None:
    """Refuse what cannot fit rather than cutting the front of the prompt (system prompt and tools first)."""
    room = max_context - num_prompt_tokens
    if room <= 0 or (max_tokens is not None and max_tokens > room):
        overflow = ContextOverflow(num_prompt_tokens, max_tokens if room > 0 else None, max_context)
        raise from_context_overflow(overflow, param, "max_tokens")


async def wait_for_disconnect(request: Request) -> None:
    """Return when the client hangs up (the body is already read, so only `http.disconnect` is left)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def run_unless_disconnected(request: Request, work: asyncio.Future[T] | asyncio.Task[T]) -> T:
    """Await `work`; if the client disconnects first, cancel it (its finally blocks abort the engine)."""
    watcher = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        done, _ = await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # the handler itself was cancelled (server shutdown): take the work down too
        work.cancel()
        watcher.cancel()
        raise
    watcher.cancel()
    if watcher not in done:
        return work.result()
    # The client is gone. Work that finished in the same instant may hold a running generation.
    if work in done and not work.cancelled() and work.exception() is None:
        close = getattr(work.result(), "close", None)
        if close is not None and asyncio.iscoroutinefunction(close):
            await close()
    else:
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
    raise APIError(499, "The client closed the request.", "invalid_request_error", code="client_closed")
