"""An engine that replays scripted token ids: API-layer tests and HTTP benchmarks without a model.

It keeps the real engine's contract (gossamer/engine/protocol.py): refusals raised when the request
is added, `max_tokens`, stop token ids, `n` sequences, logprobs, abort, stats, and a prefix cache
that counts the prompt tokens shared with earlier requests (in whole blocks, like a paged cache).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from gossamer.engine.protocol import (
    EngineStats,
    QueueFull,
    RequestOutput,
    RequestRejected,
    SamplingParams,
    TokenLogprob,
)

# (prompt_ids, params, sequence index) -> the token ids that sequence "samples"
Script = Callable[[list[int], SamplingParams, int], Sequence[int]]


@dataclass
class ScriptedRequest:
    request_id: str
    prompt_ids: list[int]
    params: SamplingParams
    aborted: bool = False
    finished: bool = False


@dataclass
class ScriptedEngine:
    script: Script | Sequence[int] = ()
    max_context_length: int = 4096
    tokens_per_step: int = 1
    step_delay_s: float = 0.0
    max_running: int | None = None  # requests beyond this are refused with QueueFull
    block_size: int = 16
    # The real engine appends the stop token to `token_ids` (and names it in `stop_token_id`);
    # False reports it only in `stop_token_id`, the other shape the protocol allows.
    stop_token_in_output: bool = True
    requests: list[ScriptedRequest] = field(default_factory=list)
    _active: dict[str, ScriptedRequest] = field(default_factory=dict)
    _num_aborted: int = 0
    _num_finished: int = 0
    _num_prompt_tokens: int = 0
    _num_cached_tokens: int = 0
    _seen_prompts: list[list[int]] = field(default_factory=list)
    _is_shut_down: bool = False

    def _tokens_for(self, prompt_ids: list[int], params: SamplingParams, index: int) -> list[int]:
        if callable(self.script):
            return list(self.script(prompt_ids, params, index))
        return list(self.script)

    def _cached_tokens(self, prompt_ids: list[int]) -> int:
        best = 0
        for seen in self._seen_prompts:
            n = 0
            for a, b in zip(seen, prompt_ids, strict=False):
                if a != b:
                    break
                n += 1
            best = max(best, n)
        # Whole blocks only, and never the last prompt token (it must be computed to sample).
        return min(best, len(prompt_ids) - 1) // self.block_size * self.block_size

    def generate(
        self, request_id: str, prompt_ids: list[int], params: SamplingParams
    ) -> AsyncIterator[RequestOutput]:
        if self._is_shut_down:
            raise QueueFull("the engine is shutting down")
        if len(prompt_ids) >= self.max_context_length:
            raise RequestRejected(
                f"the prompt has {len(prompt_ids)} tokens; the context holds {self.max_context_length}",
                field="prompt_ids",
                limit=self.max_context_length,
            )
        if self.max_running is not None and len(self._active) >= self.max_running:
            raise QueueFull(f"{len(self._active)} requests are running; the engine takes {self.max_running}")
        request = ScriptedRequest(request_id, list(prompt_ids), params)
        self.requests.append(request)
        self._active[request_id] = request
        num_cached = self._cached_tokens(prompt_ids)
        self._seen_prompts = [*self._seen_prompts[-63:], list(prompt_ids)]  # a small cache, like a real one
        self._num_prompt_tokens += len(prompt_ids)
        self._num_cached_tokens += num_cached
        return self._replay(request, num_cached)

    async def _replay(self, request: ScriptedRequest, num_cached: int) -> AsyncIterator[RequestOutput]:
        params = request.params
        budget = self.max_context_length - len(request.prompt_ids)
        if params.max_tokens is not None:
            budget = min(budget, params.max_tokens)
        scripts = [self._tokens_for(request.prompt_ids, params, i) for i in range(params.n)]
        positions = [0] * params.n
        done = [False] * params.n
        stop_ids = set(params.stop_token_ids)
        try:
            while not all(done):
                if self.step_delay_s:
                    await asyncio.sleep(self.step_delay_s)
                else:
                    await asyncio.sleep(0)  # let other requests and the server run, as a real step would
                for i in range(params.n):
                    if done[i]:
                        continue
                    if request.aborted:
                        return
                    out, finish, stop_id = [], None, None
                    while len(out) < self.tokens_per_step:
                        if positions[i] >= budget:
                            finish = "length"
                            break
                        if positions[i] >= len(scripts[i]):
                            finish = "stop"  # script over: as if an end-of-sequence was sampled
                            break
                        token = scripts[i][positions[i]]
                        positions[i] += 1
                        if token in stop_ids and not params.ignore_eos:
                            finish, stop_id = "stop", token
                            if self.stop_token_in_output:
                                out.append(token)
                            break
                        out.append(token)
                    if finish is None and positions[i] >= budget:
                        finish = "length"
                    done[i] = finish is not None
                    if all(done):
                        # Book the request finished before handing over its last output: the consumer
                        # may stop iterating as soon as it has seen it.
                        request.finished = True
                        self._num_finished += 1
                        self._active.pop(request.request_id, None)
                    yield RequestOutput(
                        request_id=request.request_id,
                        index=i,
                        token_ids=tuple(out),
                        logprobs=self._logprobs(out, params) if params.logprobs is not None else None,
                        finished=finish is not None,
                        finish_reason=finish,
                        stop_token_id=stop_id,
                        num_prompt_tokens=len(request.prompt_ids),
                        num_cached_tokens=num_cached,
                    )
        finally:
            # A consumer that stops iterating (cancelled, closed) abandons the request: an abort.
            if not request.finished and not request.aborted:
                request.aborted = True
                self._num_aborted += 1
            self._active.pop(request.request_id, None)

    @staticmethod
    def _logprobs(token_ids: list[int], params: SamplingParams) -> tuple[TokenLogprob, ...]:
        k = params.logprobs or 0
        # Made-up but consistent: the sampled token is the likeliest, neighbours follow.
        return tuple(TokenLogprob(t, -0.25, tuple((t + j, -0.25 - j) for j in range(k))) for t in token_ids)

    async def abort(self, request_id: str) -> None:
        request = self._active.pop(request_id, None)
        if request is not None and not request.finished:
            request.aborted = True
            self._num_aborted += 1

    def stats(self) -> EngineStats:
        return EngineStats(
            num_running=len(self._active),
            num_waiting=0,
            kv_usage=0.0,
            num_free_blocks=0,
            num_total_blocks=0,
            prefix_hit_rate=self._num_cached_tokens / self._num_prompt_tokens
            if self._num_prompt_tokens
            else 0.0,
            num_aborted=self._num_aborted,
            num_finished=self._num_finished,
        )

    async def shutdown(self) -> None:
        self._is_shut_down = True


def harmony_reply(
    *,
    reasoning: str = "",
    final: str | None = None,
    calls: Sequence[tuple[str, str]] = (),
    preamble: str = "",
) -> list[int]:
    """Token ids of an assistant reply in harmony, as gpt-oss would sample it after `<|start|>assistant`.

    calls: (function name, JSON arguments); a reply with calls ends on `<|call|>`, else `<|return|>`.
    """
    from gossamer.harmony.tokenizer import load_harmony_encoding

    encoding = load_harmony_encoding()

    def enc(text: str) -> list[int]:
        return list(encoding.encode(text, allowed_special="all"))

    parts: list[str] = []
    if reasoning:
        parts.append(f"<|channel|>analysis<|message|>{reasoning}<|end|><|start|>assistant")
    if preamble:
        parts.append(f"<|channel|>commentary<|message|>{preamble}<|end|><|start|>assistant")
    if calls:
        name, args = calls[0]
        parts.append(f" to=functions.{name}<|channel|>commentary json<|message|>{args}<|call|>")
    elif final is not None:
        parts.append(f"<|channel|>final<|message|>{final}<|return|>")
    return enc("".join(parts))
