"""One engine request: start it, stream its outputs, count and time them, abort it if left running.

`Generation.start` submits the prompt and waits for the engine's first output, so a refused
request (context overflow, full queue) raises before a front-end sends any byte of its answer.
However the consumer stops (finished, client gone, exception), `close()` aborts the request in
the engine if it still runs. The engine's refusals (`RequestRejected`, `QueueFull`) pass through
unchanged: each front-end maps them to its API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

import anyio

from gossamer.engine.protocol import Engine, RequestOutput, SamplingParams

logger = logging.getLogger(__name__)


class GenerationMetrics(Protocol):
    """What a generation reports as it runs (the server's Prometheus metrics implement it)."""

    def on_prompt(self, num_prompt_tokens: int) -> None: ...

    def on_cached_prompt(self, num_cached_tokens: int) -> None: ...

    def on_tokens(
        self, num_tokens: int, first_token_s: float | None, inter_token_s: float | None
    ) -> None: ...

    def on_finished(self, latency_s: float) -> None: ...


class Generation:
    def __init__(
        self,
        engine: Engine,
        request_id: str,
        prompt_ids: list[int],
        params: SamplingParams,
        metrics: GenerationMetrics | None = None,
    ) -> None:
        self.engine = engine
        self.request_id = request_id
        self.prompt_ids = prompt_ids
        self.params = params
        self.metrics = metrics
        self.num_prompt_tokens = len(prompt_ids)
        self.num_cached_tokens = 0
        self.num_generated_tokens = 0
        self.arrival_s = time.perf_counter()
        self.first_token_s: float | None = None
        self._last_token_s: dict[int, float] = {}  # per sequence index
        self._num_unfinished = params.n
        self._iterator: AsyncIterator[RequestOutput] | None = None
        self._first: RequestOutput | None = None
        self._closed = False

    @classmethod
    async def start(
        cls,
        engine: Engine,
        request_id: str,
        prompt_ids: list[int],
        params: SamplingParams,
        metrics: GenerationMetrics | None = None,
    ) -> Generation:
        gen = cls(engine, request_id, prompt_ids, params, metrics)
        try:
            gen._iterator = aiter(engine.generate(request_id, prompt_ids, params))
            gen._first = await anext(gen._iterator)
            if metrics is not None:
                metrics.on_prompt(len(prompt_ids))
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
        metrics = self.metrics
        num_new = len(output.token_ids)
        if output.num_prompt_tokens and not self.num_cached_tokens and output.num_cached_tokens:
            self.num_cached_tokens = output.num_cached_tokens
            if metrics is not None:
                metrics.on_cached_prompt(output.num_cached_tokens)
        if num_new:
            first_token_s = None
            if self.first_token_s is None:
                self.first_token_s = now
                first_token_s = now - self.arrival_s
            last = self._last_token_s.get(output.index)
            # Several tokens in one delta share the gap (speculative or batched steps).
            inter_token_s = (now - last) / num_new if last is not None else None
            self._last_token_s[output.index] = now
            self.num_generated_tokens += num_new
            if metrics is not None:
                metrics.on_tokens(num_new, first_token_s, inter_token_s)
        if output.finished:
            self._num_unfinished -= 1
            if self.finished and metrics is not None:
                metrics.on_finished(now - self.arrival_s)
        return output

    async def abort(self) -> None:
        """Ask the engine to stop; its stream then ends with `finish_reason="abort"`."""
        await self.engine.abort(self.request_id)

    async def close(self) -> None:
        """Abort in the engine unless every sequence finished; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._iterator is None:
            return  # refused when added: nothing runs in the engine
        if self.finished:
            if hasattr(self._iterator, "aclose"):
                await self._iterator.aclose()  # type: ignore[attr-defined]
            return
        # Runs while the surrounding task may be cancelled (client gone): shield the abort.
        with anyio.CancelScope(shield=True):
            try:
                await self.engine.abort(self.request_id)
            except Exception:
                logger.exception("aborting %s failed", self.request_id)
            if hasattr(self._iterator, "aclose"):
                try:
                    await self._iterator.aclose()  # type: ignore[attr-defined]
                except Exception:
                    logger.exception("closing the output stream of %s failed", self.request_id)
        logger.info("request %s aborted before finishing", self.request_id)
