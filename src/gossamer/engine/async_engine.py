"""The Engine protocol over EngineCore: model compute on a background thread, streams on asyncio.

The event loop never runs the model: `generate` validates at once (RequestRejected, QueueFull),
hands the request to the engine thread through an inbox, and returns an async iterator over a
per-request asyncio.Queue. The engine thread owns every piece of scheduling state; after each
step it pushes each RequestOutput to its request's queue with `loop.call_soon_threadsafe`, so
a slow step never stalls streaming, and a client that goes away turns into an abort.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gossamer.engine.engine import EngineCore
from gossamer.engine.protocol import EngineStats, QueueFull, RequestOutput, RequestRejected, SamplingParams

logger = logging.getLogger(__name__)


@dataclass
class _Stream:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[RequestOutput | BaseException]


class AsyncEngine:
    def __init__(self, core: EngineCore, *, max_queue: int | None = None) -> None:
        self.core = core
        self.max_queue = core.config.max_queue if max_queue is None else max_queue
        self._lock = threading.Condition()
        self._inbox: list[tuple[str, str, list[int], SamplingParams] | tuple[str, str]] = []
        self._streams: dict[str, _Stream] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="gossamer-engine", daemon=True)
        self._thread.start()

    @property
    def max_context_length(self) -> int:
        return self.core.max_sequence_tokens

    def generate(self, request_id: str, prompt_ids: list[int], params: SamplingParams
                 ) -> AsyncIterator[RequestOutput]:
        self.core.validate(prompt_ids, params)  # reads only immutable settings: safe off-thread
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._stopping:
                raise RequestRejected("the engine is shutting down")
            if request_id in self._streams:
                raise RequestRejected(f"request id {request_id!r} is already in use", field=None)
            if len(self._streams) >= self.core.config.max_num_seqs + self.max_queue:
                raise QueueFull(f"{self.max_queue} requests are already waiting; retry later")
            stream = _Stream(loop, asyncio.Queue())
            self._streams[request_id] = stream
            self._inbox.append(("add", request_id, list(prompt_ids), params))
            self._lock.notify()
        return self._stream(request_id, stream, params.n)

    async def _stream(self, request_id: str, stream: _Stream, num_seqs: int) -> AsyncIterator[RequestOutput]:
        num_finished = 0
        try:
            while num_finished < num_seqs:
                item = await stream.queue.get()
                if isinstance(item, BaseException):
                    raise item
                num_finished += item.finished
                yield item
        finally:
            if num_finished < num_seqs:  # the consumer left early: free the request's blocks
                self._post_abort(request_id)
            with self._lock:
                self._streams.pop(request_id, None)

    async def abort(self, request_id: str) -> None:
        self._post_abort(request_id)

    def _post_abort(self, request_id: str) -> None:
        with self._lock:
            self._inbox.append(("abort", request_id))
            self._lock.notify()

    def stats(self) -> EngineStats:
        return self.core.stats()

    async def shutdown(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify()
        await asyncio.to_thread(self._thread.join)

    # ----- the engine thread
    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._inbox and not self.core.has_unfinished() and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    break
                commands, self._inbox = self._inbox, []
            for command in commands:
                self._apply(command)
            try:
                outputs = self.core.step()
            except Exception as exc:  # a model failure fails the running requests, not the engine
                logger.exception("engine step failed; aborting the requests in flight")
                self._fail_all(exc)
                continue
            for output in outputs:
                self._deliver(output.request_id, output)
        self._fail_all(RequestRejected("the engine shut down"))

    def _apply(self, command: tuple) -> None:
        if command[0] == "add":
            _, request_id, prompt_ids, params = command
            try:
                self.core.add_request(request_id, prompt_ids, params)
            except RequestRejected as exc:
                self._deliver(request_id, exc)
            except Exception as exc:  # a bug must fail this request, not stop the engine thread
                logger.exception("could not add request %s", request_id)
                self.core.abort_request(request_id)
                self._deliver(request_id, exc)
        else:
            for output in self.core.abort_request(command[1]):
                self._deliver(output.request_id, output)

    def _fail_all(self, exc: BaseException) -> None:
        for request_id in list(self.core.requests):
            self.core.abort_request(request_id)
            self._deliver(request_id, exc)

    def _deliver(self, request_id: str, item: RequestOutput | BaseException) -> None:
        with self._lock:
            stream = self._streams.get(request_id)
        if stream is None:
            return  # the consumer has gone; its abort is in the inbox
        try:
            stream.loop.call_soon_threadsafe(stream.queue.put_nowait, item)
        except RuntimeError:  # its event loop is closed
            self._post_abort(request_id)
