"""One sequence streamed from an upstream: the request built by the replica's adapter, the stream
decoded into RequestOutputs, and what a failure means.

A failure before the sequence's first token sends it to the next replica that can take it, unseen
by the client; after it, the sequence ends in EngineUnavailable (tokens cannot be taken back), and
the replica is charged with the failure (health: replica.py). However the sequence ends, its share
of the replica's load is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import httpx

from gossamer.engine.protocol import (
    EngineUnavailable,
    QueueFull,
    RequestOutput,
    RequestRejected,
    SamplingParams,
)
from gossamer.upstream.adapter import UpstreamChunk, UpstreamError
from gossamer.upstream.balancer import Balancer
from gossamer.upstream.config import FleetConfig
from gossamer.upstream.identify import auth_headers
from gossamer.upstream.metrics import UpstreamMetrics
from gossamer.upstream.replica import Replica, Ticket
from gossamer.upstream.stream import stream_events

logger = logging.getLogger(__name__)


@dataclass
class Flight:
    """One engine request in flight: its sequences' tasks and the queue they report to."""

    request_id: str
    num_seqs: int
    queue: asyncio.Queue[RequestOutput | BaseException] = field(default_factory=asyncio.Queue)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    finished: set[int] = field(default_factory=set)  # sequence indices that ended
    started: set[int] = field(default_factory=set)  # sequence indices that produced a token
    replica_of: dict[int, str] = field(default_factory=dict)  # sequence index -> the replica streaming it
    cancelled: bool = False


@dataclass(frozen=True)
class Sequence:
    """One of a request's n sequences: what each attempt at it sends, whichever replica it goes to."""

    flight: Flight
    index: int
    prompt_ids: list[int]
    params: SamplingParams  # n=1, its own seed
    max_tokens: int

    @property
    def started(self) -> bool:
        return self.index in self.flight.started

    @property
    def finished(self) -> bool:
        return self.index in self.flight.finished


class SequenceRunner:
    def __init__(
        self, replicas: list[Replica], balancer: Balancer, metrics: UpstreamMetrics, config: FleetConfig
    ) -> None:
        self.replicas = replicas
        self.balancer = balancer
        self.metrics = metrics
        self.config = config
        self.client: httpx.AsyncClient | None = None  # set on the serving event loop (RemoteEngine.start)
        self.num_prompt_tokens = 0  # of finished sequences, for the engine's prefix hit rate
        self.num_cached_tokens = 0

    def capable(self, params: SamplingParams) -> list[Replica]:
        """The replicas up that can honour these sampling fields."""
        return [
            r
            for r in self.replicas
            if r.is_up and r.adapter is not None and r.adapter.refusal(params) is None
        ]

    async def run(self, seq: Sequence, replica: Replica) -> None:
        """Stream one sequence into its flight's queue, trying the next replica while nothing was sent."""
        flight = seq.flight
        tried: list[str] = []
        while True:
            tried.append(replica.label)
            try:
                await self._attempt(seq, replica, len(tried))
                return
            except asyncio.CancelledError:
                self.metrics.requests.labels(replica.label, "aborted").inc()
                raise
            except UpstreamError as exc:
                failure = self._on_failure(seq, replica, exc)
            except Exception as exc:  # a bug here must fail this request, never leave its consumer waiting
                logger.exception("request %s on %s failed", flight.request_id, replica.label)
                failure = EngineUnavailable(f"The request failed in the server ({type(exc).__name__}).")
            if failure is not None:
                flight.queue.put_nowait(failure)
                return
            candidates = [r for r in self.capable(seq.params) if r.label not in tried]
            if not candidates:
                flight.queue.put_nowait(EngineUnavailable(
                    f"No upstream could take this request: {', '.join(tried)} failed, and no other is up. "
                    "Retry later."
                ))  # fmt: skip
                return
            self.metrics.requests.labels(replica.label, "retried").inc()
            previous, replica = replica, self.balancer.least_loaded(candidates)
            logger.warning(
                "request %s: %s failed before the first token; retrying on %s",
                flight.request_id, previous.label, replica.label,
            )  # fmt: skip

    def _on_failure(self, seq: Sequence, replica: Replica, exc: UpstreamError) -> BaseException | None:
        """What the consumer gets for this failure, or None to try another replica."""
        label = replica.label
        if exc.refused:
            self.metrics.requests.labels(label, "refused").inc()
            return RequestRejected(f"The upstream refused the request: {exc}")
        self.metrics.requests.labels(label, "failed").inc()
        if exc.status == 429:  # busy, not broken: no failure counted against it
            if seq.started:
                return EngineUnavailable(f"The upstream {label} became too busy mid-answer. Retry later.")
            if any(r.is_up and r is not replica for r in self.replicas):
                return None
            return QueueFull(f"The upstreams are busy ({label} answered 429). Retry later.")
        self.metrics.failures.labels(label, exc.kind).inc()
        replica.record_failure(str(exc), connection=exc.connection, max_failures=self.config.max_failures)
        if seq.started:
            return EngineUnavailable(
                f"The upstream serving this answer ({label}) failed mid-answer: {exc}. "
                "The answer is incomplete; retry the request."
            )
        return None

    async def _attempt(self, seq: Sequence, replica: Replica, attempt: int) -> None:
        adapter = replica.adapter
        if adapter is None or self.client is None:
            raise UpstreamError("the replica is not identified", connection=True, kind="connect")
        upstream_id = f"{seq.flight.request_id}-{seq.index}-{attempt}"
        seq.flight.replica_of[seq.index] = replica.label
        body = adapter.request_body(seq.prompt_ids, seq.params, seq.max_tokens, upstream_id)
        headers = {**auth_headers(replica.spec), "X-Request-Id": upstream_id}
        decoder = adapter.decoder(seq.params)
        ticket = replica.begin(len(seq.prompt_ids), min(seq.max_tokens, self.config.expected_output_tokens))
        sent_s = time.perf_counter()
        self.metrics.prompt_tokens.labels(replica.label).inc(len(seq.prompt_ids))
        try:
            try:
                url = replica.spec.url + adapter.generate_path
                # aclosing: a cancelled iteration must close the HTTP stream now (the upstream aborts),
                # not whenever the abandoned generator is collected.
                async with contextlib.aclosing(stream_events(self.client, url, body, headers)) as events:
                    async for event in events:
                        for chunk in decoder.feed(event):
                            self._deliver(seq, chunk, replica, ticket, sent_s)
            except UpstreamError:
                # Broken after the answer was complete (before [DONE] or the usage event): keep the answer.
                for chunk in decoder.end():
                    self._deliver(seq, chunk, replica, ticket, sent_s)
                if not seq.finished:
                    raise
            else:
                for chunk in decoder.end():
                    self._deliver(seq, chunk, replica, ticket, sent_s)
            if not seq.finished:
                raise UpstreamError("the stream ended before the answer did", connection=True)
        finally:
            ticket.end()
        replica.record_success()
        self.metrics.requests.labels(replica.label, "ok").inc()
        self.metrics.request_duration.labels(replica.label).observe(time.perf_counter() - sent_s)

    def _deliver(
        self, seq: Sequence, chunk: UpstreamChunk, replica: Replica, ticket: Ticket, sent_s: float
    ) -> None:
        if seq.finished or (not chunk.token_ids and chunk.finish_reason is None):
            return
        flight, label = seq.flight, replica.label
        if chunk.token_ids:
            if not seq.started:
                flight.started.add(seq.index)
                self.metrics.time_to_first_token.labels(label).observe(time.perf_counter() - sent_s)
            ticket.progress(len(chunk.token_ids))
            self.metrics.generation_tokens.labels(label).inc(len(chunk.token_ids))
        finished = chunk.finish_reason is not None
        if finished:
            flight.finished.add(seq.index)
            num_cached = chunk.num_cached_tokens or 0
            self.num_prompt_tokens += len(seq.prompt_ids)
            self.num_cached_tokens += num_cached
            if num_cached:
                self.metrics.cached_prompt_tokens.labels(label).inc(num_cached)
        flight.queue.put_nowait(
            RequestOutput(
                flight.request_id,
                seq.index,
                chunk.token_ids,
                chunk.logprobs,
                finished=finished,
                finish_reason=chunk.finish_reason,
                stop_token_id=chunk.stop_token_id,
                num_prompt_tokens=len(seq.prompt_ids),
                num_cached_tokens=chunk.num_cached_tokens or 0,
            )
        )
