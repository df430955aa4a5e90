"""Offline generation: drive an EngineCore to completion on the caller's thread (for `LLM`).

No event loop and no background thread: `generate` adds every prompt, steps until all are done
and returns whole results; `stream` yields each step's outputs as they come.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from gossamer.engine.engine import EngineCore
from gossamer.engine.protocol import RequestOutput, SamplingParams, TokenLogprob

Prompt = str | list[int]


@dataclass(frozen=True)
class CompletionOutput:
    """One of a prompt's n generated sequences."""

    index: int
    token_ids: list[int]
    finish_reason: str | None
    stop_token_id: int | None = None
    logprobs: list[TokenLogprob] | None = None

    @property
    def text(self) -> str:
        from gossamer.harmony.tokenizer import decode_text  # lazy: loads the vocabulary

        return decode_text(self.token_ids)


@dataclass(frozen=True)
class GenerationOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]  # by index
    num_cached_tokens: int  # prompt tokens served from the prefix cache


def encode_prompt(prompt: Prompt) -> list[int]:
    if isinstance(prompt, str):
        from gossamer.harmony.tokenizer import encode_text  # lazy: loads the vocabulary

        return encode_text(prompt)
    return [int(t) for t in prompt]


def normalize_prompts(prompts: Prompt | list[Prompt]) -> list[Prompt]:
    """One prompt (text or token ids) or a list of them -> a list."""
    if isinstance(prompts, str):
        return [prompts]
    if isinstance(prompts, list | tuple) and prompts and all(isinstance(t, int) for t in prompts):
        return [list(prompts)]  # type: ignore[arg-type]
    return list(prompts)  # type: ignore[arg-type]


class OfflineRunner:
    def __init__(self, core: EngineCore) -> None:
        self.core = core
        self._ids = itertools.count()

    @property
    def max_context_length(self) -> int:
        """Tokens one sequence may hold (the context, or less when the KV cache is smaller)."""
        return self.core.max_sequence_tokens

    def generate(self, prompt_ids: list[list[int]], params: list[SamplingParams]) -> list[GenerationOutput]:
        request_ids = []
        for ids, p in zip(prompt_ids, params, strict=True):
            self.core.validate(ids, p)  # every prompt is checked before any starts
        for ids, p in zip(prompt_ids, params, strict=True):
            request_id = f"offline-{next(self._ids)}"
            self.core.add_request(request_id, ids, p)
            request_ids.append(request_id)
        collected: dict[str, list[RequestOutput]] = {r: [] for r in request_ids}
        try:
            while any(r in self.core.requests for r in request_ids):
                for out in self.core.step():
                    collected[out.request_id].append(out)
        finally:
            for request_id in request_ids:  # on an exception (or Ctrl-C) free the cache
                self.core.abort_request(request_id)
        return [_assemble(ids, collected[r], p.n) for ids, r, p in zip(prompt_ids, request_ids, params,
                                                                        strict=True)]

    def stream(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[RequestOutput]:
        request_id = f"offline-{next(self._ids)}"
        self.core.add_request(request_id, prompt_ids, params)
        try:
            while request_id in self.core.requests:
                for out in self.core.step():
                    if out.request_id == request_id:
                        yield out
        finally:  # the caller stopped iterating: free the request's blocks
            self.core.abort_request(request_id)


def _assemble(prompt_ids: list[int], outputs: list[RequestOutput], n: int) -> GenerationOutput:
    completions = []
    for index in range(n):
        mine = [o for o in outputs if o.index == index]
        last = mine[-1] if mine else None
        logprobs = [lp for o in mine for lp in (o.logprobs or ())] if mine and mine[0].logprobs is not None \
            else None
        completions.append(CompletionOutput(
            index=index,
            token_ids=[t for o in mine for t in o.token_ids],
            finish_reason=last.finish_reason if last else None,
            stop_token_id=last.stop_token_id if last else None,
            logprobs=logprobs,
        ))
    cached = outputs[0].num_cached_tokens if outputs else 0
    return GenerationOutput(list(prompt_ids), completions, cached)
