"""One engine request seen from the HTTP layer: start, stream, measure, and abort when the client leaves.

`Generation.start` submits the prompt and waits for the engine's first output before any
response byte is sent, so a refused request (context overflow, full queue) still gets a proper
4xx status rather than a broken stream. Whatever way the consumer stops (finished, client
disconnect, exception), `close()` aborts the request in the engine if it is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import anyio
from starlette.requests import Request

from gossamer.engine.protocol import QueueFull, RequestOutput, RequestRejected, SamplingParams
from gossamer.server.errors import APIError, from_engine_error
from gossamer.server.state import ServerState

logger = logging.getLogger(__name__)

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


class Generation:
    def __init__(
        self, state: ServerState, request_id: str, prompt_ids: list[int], params: SamplingParams
    ) -> None:
        self.state = state
        self.request_id = request_id
        self.prompt_ids = prompt_ids
        self.params = params
        self.num_prompt_tokens = len(prompt_ids)
        self.num_cached_tokens = 0
        self.num_generated_tokens = 0
        self._arrival_s = time.perf_counter()
        self._last_token_s: dict[int, float] = {}
        self._num_unfinished = params.n
        self._iterator: AsyncIterator[RequestOutput] | None = None
        self._first: RequestOutput | None = None
        self._closed = False

    @classmethod
    async def start(
        cls, state: ServerState, request_id: str, prompt_ids: list[int], params: SamplingParams
    ) -> Generation:
        gen = cls(state, request_id, prompt_ids, params)
        try:
            gen._iterator = aiter(state.engine.generate(request_id, prompt_ids, params))
            gen._first = await anext(gen._iterator)
            state.metrics.prompt_tokens.inc(len(prompt_ids))
        except (RequestRejected, QueueFull) as exc:
            await gen.close()
            raise from_engine_error(exc) from exc
        except StopAsyncIteration:
            gen._first = None
        except BaseException:
            await gen.close()
            raise
        return gen

    @property
    def finished(self) -> bool:
        return self._num_unfinished <= 0

    async def __aiter__(self) -> AsyncIterator[RequestOutput]:
        assert self._iterator is not None, "call Generation.start()"
        if self._first is not None:
            first, self._first = self._first, None
            yield self._observe(first)
        async for output in self._iterator:
            yield self._observe(output)

    def _observe(self, output: RequestOutput) -> RequestOutput:
        now = time.perf_counter()
        metrics = self.state.metrics
        num_new = len(output.token_ids)
        if output.num_prompt_tokens and not self.num_cached_tokens and output.num_cached_tokens:
            self.num_cached_tokens = output.num_cached_tokens
            metrics.cached_prompt_tokens.inc(output.num_cached_tokens)
        if num_new:
            if not self._last_token_s:
                metrics.time_to_first_token.observe(now - self._arrival_s)
            last = self._last_token_s.get(output.index)
            if last is not None:
                # Several tokens in one delta share the gap (speculative or batched steps).
                for _ in range(num_new):
                    metrics.inter_token_latency.observe((now - last) / num_new)
            self._last_token_s[output.index] = now
            self.num_generated_tokens += num_new
            metrics.generation_tokens.inc(num_new)
        if output.finished:
            self._num_unfinished -= 1
            if self.finished:
                metrics.request_latency.observe(now - self._arrival_s)
        return output

    async def close(self) -> None:
        """Abort in the engine unless every sequence finished; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._iterator is None:
            return  # refused when added: nothing runs in the engine
        if self.finished:
            if self._iterator is not None and hasattr(self._iterator, "aclose"):
                await self._iterator.aclose()  # type: ignore[attr-defined]
            return
        # Runs while the surrounding task may be cancelled (client gone): shield the abort.
        with anyio.CancelScope(shield=True):
            try:
                await self.state.engine.abort(self.request_id)
            except Exception:
                logger.exception("aborting %s failed", self.request_id)
            if self._iterator is not None and hasattr(self._iterator, "aclose"):
                try:
                    await self._iterator.aclose()  # type: ignore[attr-defined]
                except Exception:
                    logger.exception("closing the output stream of %s failed", self.request_id)
        logger.info("request %s aborted before finishing", self.request_id)


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


def check_context(
    num_prompt_tokens: int, max_tokens: int | None, max_context_length: int, param: str
) -> None:
    """Refuse what cannot fit rather than cutting the front of the prompt (system prompt and tools first)."""
    if num_prompt_tokens >= max_context_length:
        raise APIError(
            400,
            f"This model's maximum context length is {max_context_length} tokens, but the prompt has "
            f"{num_prompt_tokens} tokens (at least one token must remain for the answer). "
            "Shorten the prompt.",
            "invalid_request_error",
            param,
            "context_length_exceeded",
        )
    if max_tokens is not None and num_prompt_tokens + max_tokens > max_context_length:
        raise APIError(
            400,
            f"This model's maximum context length is {max_context_length} tokens, but "
            f"{num_prompt_tokens + max_tokens} were requested ({num_prompt_tokens} in the prompt, "
            f"{max_tokens} for the completion). "
            "Lower max_tokens or shorten the prompt.",
            "invalid_request_error",
            "max_tokens",
            "context_length_exceeded",
        )
