"""What every upstream adapter does: sampling in, the upstream's request body out; its stream events in,
token deltas out; and the sampling fields it cannot honour named before anything is sent.

Each engine's wire format is one adapter (vllm.py, sglang.py, gossamer.py). An adapter holds no
connection: the engine (engine.py) sends what it builds and feeds it what comes back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from gossamer.engine.protocol import SamplingParams, TokenLogprob

# gpt-oss's <|start|>: a probe prompt any gpt-oss upstream accepts.
PROBE_PROMPT = [200006]


class UpstreamError(Exception):
    """An upstream said no or broke. `status` is its HTTP status (None: no answer, or a broken stream).

    kind, for metrics: connect, stream (broke or ended early), status (an error status or event),
    timeout, protocol (an answer that does not follow the upstream's documented shape).
    """

    def __init__(
        self, message: str, *, status: int | None = None, connection: bool = False, kind: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.connection = connection  # the replica could not be reached, or hung up: take it out now
        self.kind = kind or ("status" if status is not None else "stream")

    @property
    def refused(self) -> bool:
        """The request itself is at fault (4xx other than 429): another replica would refuse it too."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429


@dataclass(frozen=True)
class Refusal:
    field: str  # the SamplingParams field the upstream cannot honour
    message: str


@dataclass(frozen=True)
class UpstreamChunk:
    """One sequence's news from one stream event: tokens since the last, and how it ended."""

    token_ids: tuple[int, ...]
    logprobs: tuple[TokenLogprob, ...] | None = None
    finish_reason: str | None = None  # "stop", "length" or "abort"; None while running
    stop_token_id: int | None = None
    num_prompt_tokens: int | None = None
    num_cached_tokens: int | None = None  # the upstream's prefix-cache hit, where it reports one


class ChunkDecoder(ABC):
    """Turns one stream's events into chunks; stateful (cumulative streams, usage that comes last)."""

    @abstractmethod
    def feed(self, event: dict[str, Any]) -> list[UpstreamChunk]:
        """Chunks ready after this event; raises UpstreamError for an error event."""

    def end(self) -> list[UpstreamChunk]:
        """Chunks held back until the stream's end (the finish, waiting for the usage event)."""
        return []


class Adapter(ABC):
    kind: ClassVar[str]
    generate_path: ClassVar[str]
    health_path: ClassVar[str] = "/health"

    def __init__(self, model: str, *, supports_seed: bool = True) -> None:
        self.model = model  # the upstream's id for the model (vLLM answers 404 to any other)
        self.supports_seed = supports_seed

    def refusal(self, params: SamplingParams) -> Refusal | None:
        """The first sampling field this upstream cannot honour, or None."""
        if params.seed is not None and not self.supports_seed:
            return Refusal("seed", f"this {self.kind} upstream cannot honour a seed")
        # Asked-for output shapes (vLLM's fields) are held by Gossamer's own engine as a harmony-aware
        # constraint on the final channel; sent upstream as they are, they would bind the whole raw
        # reply, analysis channel and headers included. Refused rather than left unenforced.
        for name in ("structured_outputs", "thinking_token_budget"):
            if getattr(params, name, None) is not None:
                return Refusal(
                    name,
                    f"{name} is not enforced through upstream servers yet; send the request to a "
                    "Gossamer server that runs the model itself.",
                )
        return None

    @abstractmethod
    def request_body(
        self, prompt_ids: list[int], params: SamplingParams, max_tokens: int, upstream_id: str
    ) -> dict[str, Any]:
        """One sequence (n is fanned out by the engine), streamed, with token ids."""

    @abstractmethod
    def decoder(self, params: SamplingParams) -> ChunkDecoder: ...

    @abstractmethod
    def probe_body(self) -> dict[str, Any]:
        """A one-token, unstreamed request that shows whether token ids come back."""

    @abstractmethod
    def probe_problem(self, answer: dict[str, Any]) -> str | None:
        """What is wrong with the probe's answer for token-level serving, or None."""


def error_message(body: Any, fallback: str) -> str:
    """The message of an error body in the shapes upstreams use: OpenAI's, vLLM's older, FastAPI's."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        for key in ("message", "detail"):
            if body.get(key):
                return str(body[key])
    return fallback


def error_status(body: dict[str, Any]) -> int | None:
    """The status an in-stream error event names (vLLM puts it in `code`), if any."""
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else body.get("code")
    return code if isinstance(code, int) and 400 <= code < 600 else None
