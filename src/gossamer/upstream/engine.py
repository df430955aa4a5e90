"""The Engine protocol over upstream servers: prompt ids and sampling in, token ids out, over HTTP.

`generate` checks the request at once (context, what the upstreams can honour, whether any is up),
picks a replica (balancer.py over affinity.py) and starts one task per sequence (n is fanned out
to the same replica, so all but the first find the prompt in its prefix cache). Each task
(sequence.py) streams its sequence from the upstream into the request's queue, as the local
engine's thread does:

    generate -> route -> [task per sequence: POST, events -> adapter decoder -> RequestOutput] -> queue

A task whose replica fails before the sequence's first token tries the next replica; after the
first token the sequence fails with EngineUnavailable (its tokens cannot be taken back). Leaving
the output iterator early, or `abort`, cancels the tasks, which closes their HTTP streams: the
upstream aborts the request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx

from gossamer.engine.protocol import (
    EngineStats,
    EngineUnavailable,
    RequestOutput,
    RequestRejected,
    SamplingParams,
)
from gossamer.upstream.affinity import PrefixIndex
from gossamer.upstream.balancer import Balancer, Choice
from gossamer.upstream.config import FleetConfig, UpstreamConfigError
from gossamer.upstream.health import HealthChecker
from gossamer.upstream.identify import Incompatible, Unreachable, identify
from gossamer.upstream.metrics import UpstreamMetrics
from gossamer.upstream.replica import Replica, ReplicaState
from gossamer.upstream.sequence import Flight, Sequence, SequenceRunner

logger = logging.getLogger(__name__)

DEFAULT_CONTEXT = 131072  # gpt-oss's, for upstreams that do not say theirs


def same_model(a: str, b: str) -> bool:
    """openai/gpt-oss-120b and gpt-oss-120b are one model; gpt-oss-20b is another."""
    return a.rsplit("/", 1)[-1].lower() == b.rsplit("/", 1)[-1].lower()


class RemoteEngine:
    def __init__(self, config: FleetConfig, *, max_context_length: int | None = None) -> None:
        self.config = config
        self.replicas = [Replica(spec) for spec in config.upstreams]
        self.index = PrefixIndex(
            block_size=config.block_size,
            capacity=config.prefix_index_blocks,
            min_shared_tokens=config.affinity_min_shared_tokens,
        )
        self.balancer = Balancer(config)
        self.metrics = UpstreamMetrics(self.replicas)
        self.model: str | None = None  # what every replica serves: the first one identified decides
        self._context_cap = max_context_length
        self._flights: dict[str, Flight] = {}
        self._runner = SequenceRunner(self.replicas, self.balancer, self.metrics, config)
        self._health_task: asyncio.Task[None] | None = None
        self._health = HealthChecker(self.replicas, config, self.identify, self.metrics)
        self._stopping = False
        self._num_finished = 0
        self._num_aborted = 0

    # ----- starting: identify the upstreams, then watch them
    def connect(self) -> None:
        """Block until an upstream is up (or `startup_wait_s` passes); fail on one that can never serve."""
        asyncio.run(self._wait_for_upstreams())

    async def _wait_for_upstreams(self) -> None:
        deadline = time.monotonic() + self.config.startup_wait_s
        next_note = time.monotonic() + 10.0
        async with httpx.AsyncClient() as client:
            while True:
                await asyncio.gather(*(self.identify(client, r) for r in self.replicas if not r.is_up))
                broken = [r for r in self.replicas if r.state is ReplicaState.INCOMPATIBLE]
                if broken:
                    raise UpstreamConfigError(
                        f"upstream {broken[0].spec.url} cannot be used: {broken[0].reason}"
                    )
                if any(r.is_up for r in self.replicas):
                    return
                if time.monotonic() >= deadline:
                    reasons = "; ".join(f"{r.spec.url}: {r.reason}" for r in self.replicas)
                    raise UpstreamConfigError(
                        f"no upstream answered within {self.config.startup_wait_s:g} s ({reasons})"
                    )
                if time.monotonic() >= next_note:
                    logger.info(
                        "waiting for an upstream to answer: %s", ", ".join(r.spec.url for r in self.replicas)
                    )
                    next_note = time.monotonic() + 10.0
                await asyncio.sleep(min(self.config.health_interval_s, 1.0))

    async def identify(self, client: httpx.AsyncClient, replica: Replica) -> None:
        """Bring a replica up as what it is, or keep it out saying why."""
        was_known = replica.identity is not None
        try:
            identity, adapter = await identify(client, replica.spec, self.config.connect_timeout_s)
        except Unreachable as exc:
            replica.mark_down(str(exc))
            return
        except Incompatible as exc:
            replica.mark_incompatible(str(exc))
            return
        if self.model is not None and not same_model(identity.model, self.model):
            replica.mark_incompatible(f"it serves {identity.model}; the other upstreams serve {self.model}")
            return
        self.model = self.model or identity.model
        if was_known:
            self.index.forget(replica.label)  # back from down: it may have restarted with an empty cache
        replica.mark_up(identity, adapter)

    def start(self) -> None:
        """Open the connection pool and start the health loop; call it on the serving event loop."""
        if self._runner.client is None:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
            timeout = httpx.Timeout(self.config.read_timeout_s, connect=self.config.connect_timeout_s)
            self._runner.client = httpx.AsyncClient(limits=limits, timeout=timeout)
        if self._health_task is None:
            self._health_task = asyncio.ensure_future(self._health.run(self._runner.client))

    @property
    def available(self) -> bool:
        """Whether any upstream is up (the front's /health answers 503 while none is)."""
        return any(r.is_up for r in self.replicas)

    # ----- the Engine protocol
    @property
    def max_context_length(self) -> int:
        known = [r.identity.max_model_len for r in self.replicas if r.identity and r.identity.max_model_len]
        limit = min(known) if known else DEFAULT_CONTEXT
        return min(limit, self._context_cap) if self._context_cap else limit

    def generate(
        self, request_id: str, prompt_ids: list[int], params: SamplingParams
    ) -> AsyncIterator[RequestOutput]:
        if self._stopping:
            raise RequestRejected("the server is shutting down")
        max_tokens = self._check(prompt_ids, params)
        if request_id in self._flights:
            raise RequestRejected(f"request id {request_id!r} is already in use")
        up = [r for r in self.replicas if r.is_up]
        if not up:
            raise EngineUnavailable(self._outage())
        capable = self._runner.capable(params)
        if not capable:
            refusal = up[0].adapter.refusal(params)  # type: ignore[union-attr]
            assert refusal is not None
            raise RequestRejected(refusal.message, field=refusal.field)
        self.start()  # a no-op once started (the app's lifespan starts it)
        names = self.index.block_names(prompt_ids)
        choice = self.balancer.choose(self.index.lookup(prompt_ids, names), capable)
        self.index.record(prompt_ids, names, choice.replica.label)
        self._count_route(choice)
        flight = Flight(request_id, params.n)
        self._flights[request_id] = flight
        for index in range(params.n):
            # The local engine seeds sequence i with seed + i (engine/engine.py): the same here.
            seed = params.seed + index if params.seed is not None else None
            seq = Sequence(flight, index, prompt_ids, replace(params, n=1, seed=seed), max_tokens)
            flight.tasks.append(asyncio.ensure_future(self._runner.run(seq, choice.replica)))
        return self._outputs(flight)

    async def abort(self, request_id: str) -> None:
        # Forgotten at once: a consumer that never reads the abort outputs must not hold the request.
        flight = self._flights.pop(request_id, None)
        if flight is None:
            return
        await self._cancel(flight)
        for index in range(flight.num_seqs):
            if index not in flight.finished:
                flight.finished.add(index)
                flight.queue.put_nowait(
                    RequestOutput(request_id, index, (), finished=True, finish_reason="abort")
                )

    def stats(self) -> EngineStats:
        num_running = sum(r.num_in_flight for r in self.replicas)
        runner = self._runner
        hit_rate = runner.num_cached_tokens / runner.num_prompt_tokens if runner.num_prompt_tokens else 0.0
        # The KV cache is the upstreams'; their own /metrics report it.
        return EngineStats(num_running, 0, 0.0, 0, 0, hit_rate, self._num_aborted, self._num_finished)

    async def shutdown(self) -> None:
        self._stopping = True
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
        for request_id in list(self._flights):
            await self.abort(request_id)
        if self._runner.client is not None:
            await self._runner.client.aclose()

    # ----- one request
    def _check(self, prompt_ids: list[int], params: SamplingParams) -> int:
        """The request's max_tokens, or RequestRejected for one that can never run."""
        limit = self.max_context_length
        if not prompt_ids:
            raise RequestRejected("the prompt is empty", field="prompt_ids")
        if len(prompt_ids) >= limit:
            raise RequestRejected(
                f"the prompt has {len(prompt_ids)} tokens; the upstreams' context length is {limit} tokens "
                "(prompt plus at least one generated token must fit)",
                field="prompt_ids",
                limit=limit,
            )
        if params.max_tokens is None:
            return limit - len(prompt_ids)
        if len(prompt_ids) + params.max_tokens > limit:
            raise RequestRejected(
                f"the prompt ({len(prompt_ids)} tokens) plus max_tokens ({params.max_tokens}) is above the "
                f"upstreams' context length of {limit} tokens",
                field="max_tokens",
                limit=limit,
            )
        return params.max_tokens

    def _outage(self) -> str:
        states = ", ".join(f"{r.label} {r.state.value}" for r in self.replicas)
        return f"No upstream is available to serve this request ({states}). Retry later."

    def _count_route(self, choice: Choice) -> None:
        result = "hit" if choice.affinity else "passed_over" if choice.passed_over else "none"
        self.metrics.affinity.labels(choice.replica.label, result).inc()

    async def _outputs(self, flight: Flight) -> AsyncIterator[RequestOutput]:
        num_finished = 0
        try:
            while num_finished < flight.num_seqs:
                item = await flight.queue.get()
                if isinstance(item, BaseException):
                    raise item
                num_finished += item.finished
                yield item
        finally:
            if num_finished < flight.num_seqs:  # the consumer left early, or a sequence failed
                await self._cancel(flight)
            self._flights.pop(flight.request_id, None)
            self._num_finished += num_finished == flight.num_seqs

    async def _cancel(self, flight: Flight) -> None:
        pending = [task for task in flight.tasks if not task.done()]
        if not pending:
            return
        if not flight.cancelled:
            # Once only: a second cancel would interrupt the first one's cleanup, which is what closes
            # the HTTP stream (and so aborts the request upstream).
            flight.cancelled = True
            self._num_aborted += 1
            for task in pending:
                task.cancel()
        # Shielded: the consumer's own task may be being cancelled (its client went away).
        await asyncio.shield(asyncio.gather(*pending, return_exceptions=True))
