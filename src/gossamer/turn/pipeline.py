"""One assistant turn, for every API: a conversation and sampling parameters in; harmony events,
usage and a finish reason out.

    pipeline = TurnPipeline(engine, encoding, replay=..., metrics=...)
    prepared = await pipeline.prepare_async(TurnSpec(conversation, params, ...))  # or .prepare()
    turn = await pipeline.start(prepared, request_id)      # refusals raise here, before any byte
    async for delta in turn.deltas():                      # TurnDelta: index, events, logprobs
        ...                                                # each sequence ends with one Finished
    turn.usage

Chat Completions, Responses, Ollama and `LLM.chat` only translate their requests into a `TurnSpec`
and the deltas into their answers. The pipeline owns the rest: restoring dropped reasoning
(replay.py), rendering and fitting the prompt (prompt.py), the context check, starting and closing
the engine request (generation.py), and the harmony decoding with its stop rules (sequence.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from openai_harmony import HarmonyEncoding

from gossamer.engine.protocol import Engine, RequestOutput, SamplingParams
from gossamer.grammar.plan import turn_constraint
from gossamer.harmony.conversation import Conversation
from gossamer.harmony.events import FinishReason
from gossamer.harmony.render import RenderedPrompt, render_conversation
from gossamer.harmony.tokenizer import TokenTable, load_harmony_encoding, token_table
from gossamer.turn.generation import Generation, GenerationMetrics
from gossamer.turn.prompt import render_to_fit, resolve_params
from gossamer.turn.render_pool import LARGE_PROMPT_CHARS, RenderPool, prompt_chars
from gossamer.turn.replay import ReasoningReplay, history_digest
from gossamer.turn.schema_limits import SchemaLimits, check_schema_sizes
from gossamer.turn.sequence import SequenceDecoder, TurnDelta

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnSpec:
    """What a front-end asks for, in no API's terms."""

    conversation: Conversation
    params: SamplingParams = field(default_factory=SamplingParams)
    stop_strings: tuple[str, ...] = ()  # cut the answer text at the first of these
    truncation: bool = False  # drop the oldest turns until the prompt fits, instead of refusing
    clip_max_tokens: bool = False  # shrink max_tokens to the room left, instead of refusing
    max_context_length: int | None = None  # a tighter context than the engine's (Ollama's num_ctx)
    tenant: str = ""  # whose earlier turns may be replayed (one per API key)


@dataclass
class PreparedTurn:
    spec: TurnSpec
    rendered: RenderedPrompt
    params: SamplingParams  # the spec's, with the turn's stop tokens and max_tokens settled
    history_digest: str  # of the conversation as the client sent it (the replay key's basis)
    num_restored: int = 0  # assistant turns whose reasoning was replayed

    @property
    def prompt_ids(self) -> list[int]:
        return self.rendered.prompt_ids


@dataclass(frozen=True)
class TurnUsage:
    prompt_tokens: int
    cached_tokens: int  # prompt tokens served from the prefix cache
    completion_tokens: int  # generated, over all sequences
    reasoning_tokens: int  # of those, chain of thought


class TurnPipeline:
    def __init__(
        self,
        engine: Engine,
        encoding: HarmonyEncoding | None = None,
        *,
        replay: ReasoningReplay | None = None,
        metrics: GenerationMetrics | None = None,
        schema_limits: SchemaLimits | None = None,
        render_pool: RenderPool | None = None,
    ) -> None:
        self.engine = engine
        self.schema_limits = schema_limits or SchemaLimits()
        self.render_pool = render_pool  # large prompts render there, not in this process
        self.encoding = encoding or load_harmony_encoding()
        self.replay = replay
        self.metrics = metrics
        self._table: TokenTable | None = None

    @property
    def table(self) -> TokenTable:
        if self._table is None:
            self._table = token_table()
        return self._table

    def render(self, conv: Conversation, tenant: str = "") -> RenderedPrompt:
        """The prompt a turn over `conv` would read (replayed reasoning included), without fitting it."""
        if self.replay is not None:
            self.replay.restore(conv, tenant)
        if self._is_large(conv):
            assert self.render_pool is not None
            return self.render_pool.render_to_fit(conv, 1 << 62, truncation=False)
        return render_conversation(conv, encoding=self.encoding)

    def _is_large(self, conv: Conversation) -> bool:
        return self.render_pool is not None and prompt_chars(conv) >= LARGE_PROMPT_CHARS

    def encode(self, text: str) -> list[int]:
        """Raw text as token ids (special-token names become control tokens), large texts in the pool."""
        if self.render_pool is not None and len(text) >= LARGE_PROMPT_CHARS:
            return self.render_pool.encode(text)
        return list(self.encoding.encode(text, allowed_special="all"))

    def prepare(self, spec: TurnSpec) -> PreparedTurn:
        """Replay, render, fit, settle the parameters, compile the reply's constraint.

        Raises RenderError, ContextOverflow or ConstraintError.

        The work grows with the conversation: servers call `prepare_async`, off the event loop.
        """
        conv = spec.conversation
        check_schema_sizes(conv, self.schema_limits)
        digest = history_digest(conv.messages)
        num_restored = self.replay.restore(conv, spec.tenant) if self.replay is not None else 0
        engine_limit = self.engine.max_context_length
        limit = min(spec.max_context_length or engine_limit, engine_limit)
        if self._is_large(conv):
            assert self.render_pool is not None
            rendered = self.render_pool.render_to_fit(conv, limit, truncation=spec.truncation)
        else:
            rendered = render_to_fit(conv, self.encoding, limit, truncation=spec.truncation)
        params = resolve_params(
            spec.params,
            len(rendered.prompt_ids),
            rendered.stop_token_ids,
            limit,
            engine_limit,
            clip_max_tokens=spec.clip_max_tokens,
        )
        # Tools, an answer format or a reasoning budget: the engine masks the reply to its grammar.
        # A schema or grammar that cannot be enforced raises ConstraintError here, before any token.
        constraint = turn_constraint(conv, rendered, params)
        if constraint is not None:
            params = dataclasses.replace(params, constraint=constraint)
        if num_restored:
            logger.info(
                "replayed the reasoning of %d assistant turn(s) the client sent without it", num_restored
            )
        return PreparedTurn(spec, rendered, params, digest, num_restored)

    async def prepare_async(self, spec: TurnSpec | Callable[[], TurnSpec]) -> PreparedTurn:
        """`prepare` in a worker thread. `spec` may be a function that builds it there, so that
        converting a large request (its messages, its schemas checked) stays off the loop too."""
        return await asyncio.to_thread(lambda: self.prepare(spec() if callable(spec) else spec))

    def warm(self) -> None:
        """Ahead of the first request: what would otherwise make it slow (the token table, ~0.7 s;
        a render process, a second or more)."""
        _ = self.table
        if self.render_pool is not None:
            self.render_pool.warm()

    def shutdown(self) -> None:
        if self.render_pool is not None:
            self.render_pool.shutdown()

    async def start(self, prepared: PreparedTurn, request_id: str) -> Turn:
        """Submit to the engine; its refusals (RequestRejected, QueueFull) raise here."""
        generation = await Generation.start(
            self.engine, request_id, list(prepared.prompt_ids), prepared.params, self.metrics
        )
        return Turn(self, prepared, generation)

    def decoders(self, prepared: PreparedTurn) -> list[SequenceDecoder]:
        spec = prepared.spec
        return [
            SequenceDecoder(
                i,
                prepared.rendered,
                stop_strings=spec.stop_strings,
                logprobs=prepared.params.logprobs is not None,
                table=self.table,
            )
            for i in range(prepared.params.n)
        ]

    async def remember(self, prepared: PreparedTurn, seq: SequenceDecoder) -> None:
        """Keep the reasoning of a sequence that ended in function calls, for clients that drop it."""
        finished, parsed = seq.finished, seq.parsed
        if self.replay is None or finished is None or finished.reason != FinishReason.TOOL_CALLS:
            return
        try:
            await asyncio.to_thread(
                self.replay.remember,
                prepared.history_digest,
                parsed.reasoning,
                parsed.tool_calls,
                prepared.spec.tenant,
            )
        except Exception:  # a cache: a failed write costs a later replay, never this answer
            logger.exception("keeping the reasoning of a tool-call turn for replay failed")


class Turn:
    """A running turn: iterate `deltas()` once; `close()` (also run by the iteration's end) aborts
    the engine request if it still runs."""

    def __init__(self, pipeline: TurnPipeline, prepared: PreparedTurn, generation: Generation) -> None:
        self.pipeline = pipeline
        self.prepared = prepared
        self.generation = generation
        self.sequences = pipeline.decoders(prepared)
        self.cancelled = False

    @property
    def request_id(self) -> str:
        return self.generation.request_id

    @property
    def usage(self) -> TurnUsage:
        gen = self.generation
        return TurnUsage(
            prompt_tokens=gen.num_prompt_tokens,
            cached_tokens=gen.num_cached_tokens,
            completion_tokens=gen.num_generated_tokens,
            reasoning_tokens=sum(s.finished.reasoning_tokens for s in self.sequences if s.finished),
        )

    async def deltas(self) -> AsyncIterator[TurnDelta]:
        try:
            async for output in self.generation:
                seq = self.sequences[output.index]
                delta = seq.step(output, aborted=self.cancelled)
                if seq.done and delta.finished is not None:
                    # Kept before the client sees the end, so its next request finds it.
                    await self.pipeline.remember(self.prepared, seq)
                if delta:
                    yield delta
                if all(s.done for s in self.sequences):
                    break
            # The engine's stream ended with sequences unfinished (aborted, or the engine stopped).
            for seq in self.sequences:
                if not seq.done:
                    yield seq.end(FinishReason.ABORT if self.cancelled else None)
        finally:
            await self.close()

    async def cancel(self) -> None:
        """Stop the turn on purpose (a cancelled background response); it ends with ABORT."""
        self.cancelled = True
        await self.generation.abort()

    async def close(self) -> None:
        await self.generation.close()


def decode_outputs(
    pipeline: TurnPipeline, prepared: PreparedTurn, outputs: Iterable[RequestOutput]
) -> Iterator[TurnDelta]:
    """The same decoding over a synchronous stream of engine outputs (`LLM.stream_chat`)."""
    sequences = pipeline.decoders(prepared)
    for output in outputs:
        delta = sequences[output.index].step(output)
        if delta:
            yield delta
    for seq in sequences:
        if not seq.done:
            yield seq.end(None)
