"""The engine interface the server depends on (no torch import here).

A server, the CLI and tests talk to any object with this shape: the real engine over a model,
or a scripted engine that replays token ids for API-layer tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class StructuredOutputs:
    """vLLM's `structured_outputs` (and the older `guided_*` fields): the shape the output must take.

    Exactly one of json (a JSON Schema, as an object or its text), json_object (any JSON object),
    regex, choice (one of these strings) or grammar (Lark, or llama.cpp's GBNF) is set.
    """

    json: dict[str, Any] | str | None = None
    json_object: bool = False
    regex: str | None = None
    choice: tuple[str, ...] | None = None
    grammar: str | None = None


class TokenConstraint(Protocol):
    """One sequence's grammar state (gossamer.grammar): which tokens may come next."""

    def fill_bitmask(self, row: Any) -> None:
        """Write the allowed next tokens into row: int32 [ceil(vocab / 32)], bit t % 32 of word t // 32."""
        ...

    def accept(self, token_id: int) -> bool:
        """Advance past a sampled token."""
        ...


class ConstraintFactory(Protocol):
    def new(self) -> TokenConstraint: ...


@dataclass(frozen=True)
class SamplingParams:
    # The model card's recommendation: sample at temperature 1.0, top_p 1.0.
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    min_p: float = 0.0
    seed: int | None = None
    max_tokens: int | None = None  # None: up to the context limit
    stop_token_ids: tuple[int, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    logprobs: int | None = None  # None: none; k >= 0: the sampled token's plus the top k
    n: int = 1
    ignore_eos: bool = False
    # Speculative decoding by prompt lookup for this request: None follows the engine's setting.
    # Output is the same either way (greedy) or has the same distribution (sampled).
    speculative: bool | None = None
    # The shape the output must take (vLLM's field): turned into `constraint` before the engine.
    structured_outputs: StructuredOutputs | None = None
    # Tokens of chain of thought before a constrained reply must close its analysis (vLLM's name);
    # None: the reasoning effort's default.
    thinking_token_budget: int | None = None
    # Compiled by gossamer.grammar: the engine masks each sampled token of each sequence with a
    # constraint made by this factory. Constrained sequences do not speculate.
    constraint: ConstraintFactory | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TokenLogprob:
    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()  # (token_id, logprob), best first


@dataclass(frozen=True)
class RequestOutput:
    """One step's news for one sequence of a request: tokens since the last delta."""

    request_id: str
    index: int  # which of the n sequences
    token_ids: tuple[int, ...]
    logprobs: tuple[TokenLogprob, ...] | None = None
    finished: bool = False
    finish_reason: str | None = None  # "stop", "length", "abort", or None while running
    stop_token_id: int | None = None  # the stop token that ended it, if any
    num_prompt_tokens: int = 0
    num_cached_tokens: int = 0  # prompt tokens served from the prefix cache


@dataclass(frozen=True)
class LatencyHistogram:
    """A cumulative latency histogram as Prometheus exposes one."""

    upper_bounds_s: tuple[float, ...]  # bucket upper bounds, ascending (+Inf implied last)
    cumulative_counts: tuple[int, ...]  # observations <= each bound, then the total (len(bounds) + 1)
    sum_s: float


@dataclass(frozen=True)
class EngineStats:
    num_running: int
    num_waiting: int
    kv_usage: float  # fraction of KV blocks in use, 0..1
    num_free_blocks: int
    num_total_blocks: int
    prefix_hit_rate: float  # cached prompt tokens / prompt tokens, since start
    num_aborted: int
    num_finished: int
    # Measured inside the engine, per request: from its arrival to its first generated token, and
    # between consecutive generated tokens (a step that yields several tokens of one sequence,
    # accepted draft tokens, counts each at the step's gap divided by their number).
    time_to_first_token: LatencyHistogram | None = None
    inter_token_latency: LatencyHistogram | None = None
    # Speculative decoding since start: draft tokens verified, and those accepted.
    num_draft_tokens: int = 0
    num_accepted_draft_tokens: int = 0


class RequestRejected(Exception):
    """The request can never run (too long for the context or the cache); the message names the limit.

    field: what is at fault in the engine's own terms, "prompt_ids" or a SamplingParams field
    ("max_tokens", "temperature", ...); each API maps it to its parameter's name.
    limit: the token limit that was exceeded, for a request too long for the context or the cache.
    """

    def __init__(self, message: str, *, field: str | None = None, limit: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.limit = limit


class QueueFull(Exception):
    """More requests are waiting than the engine accepts; retry later (HTTP 429)."""


class EngineUnavailable(Exception):
    """The engine cannot run or finish a request through no fault of the request: no remote replica
    is up, or the one streaming it went away mid-answer. The message is written for the client: an API
    answers 503 when nothing was sent yet, and ends a started stream with it as an error event."""


class Engine(Protocol):
    @property
    def max_context_length(self) -> int: ...

    def generate(
        self, request_id: str, prompt_ids: list[int], params: SamplingParams
    ) -> AsyncIterator[RequestOutput]:
        """Add a request and stream its outputs; raises RequestRejected or QueueFull at once."""
        ...

    async def abort(self, request_id: str) -> None: ...

    def stats(self) -> EngineStats: ...

    async def shutdown(self) -> None: ...
