"""vLLM's `/v1/completions`, token in and token out.

The fields, as vLLM documents them (vllm/entrypoints/openai/completion/protocol.py):
- request: `prompt` as a list of token ids; `return_token_ids: true` (vLLM PR #22587, 2025);
  `skip_special_tokens: false`; `stop_token_ids`; `ignore_eos`; `top_k`, `min_p`, `seed`,
  `logit_bias` (string keys), `logprobs` with `return_tokens_as_token_ids: true` so that logprob
  tokens come back as `"token_id:N"`; `stream_options.include_usage` for the usage event.
- stream: `data: {json}` events; each choice has `token_ids` (the delta), the first also
  `prompt_token_ids`; `finish_reason` with `stop_reason` (the stop token id, None for the EOS);
  then a choices-less event with `usage` (`prompt_tokens_details.cached_tokens` when vLLM runs with
  `--enable-prompt-tokens-details`); then `data: [DONE]`. An error mid-stream is
  `data: {"error": {...}}`.

Stops are exactly Gossamer's: `ignore_eos: true` keeps vLLM from stopping at the model's EOS ids
(gpt-oss: <|return|>, <|endoftext|>, <|call|>) on its own, and `stop_token_ids` are the turn's.
vLLM's ignore_eos leaves explicit stop_token_ids in force (SGLang's does not: sglang.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gossamer.engine.protocol import SamplingParams, TokenLogprob
from gossamer.upstream.adapter import (
    PROBE_PROMPT,
    Adapter,
    ChunkDecoder,
    UpstreamChunk,
    UpstreamError,
    error_message,
    error_status,
)

_TOKEN_ID_PREFIX = "token_id:"


def _token_id(text: str) -> int:
    if not text.startswith(_TOKEN_ID_PREFIX):
        raise UpstreamError(
            f"logprob token {text!r} is not a token id (return_tokens_as_token_ids was ignored)",
            status=502,
            kind="protocol",
        )
    return int(text.removeprefix(_TOKEN_ID_PREFIX))


def completion_logprobs(
    raw: dict[str, Any] | None, token_ids: list[int], num_top: int
) -> tuple[TokenLogprob, ...]:
    """OpenAI's Completions `logprobs` object, tokens spelt `token_id:N`, -> one TokenLogprob per token."""
    if not token_ids:
        return ()
    if not raw:
        raise UpstreamError("logprobs were asked for and did not come back", status=502, kind="protocol")
    values = raw.get("token_logprobs") or []
    tops = raw.get("top_logprobs") or []
    if len(values) != len(token_ids):
        raise UpstreamError(
            f"{len(values)} logprobs for {len(token_ids)} tokens", status=502, kind="protocol"
        )
    out = []
    for i, token_id in enumerate(token_ids):
        top = tops[i] if i < len(tops) and tops[i] else {}
        ranked = sorted(((_token_id(k), float(v)) for k, v in top.items()), key=lambda item: -item[1])
        logprob = values[i] if values[i] is not None else float("-inf")
        out.append(TokenLogprob(token_id, float(logprob), tuple(ranked[:num_top])))
    return tuple(out)


class CompletionsDecoder(ChunkDecoder):
    def __init__(self, params: SamplingParams, kind: str) -> None:
        self.kind = kind
        self.num_top = params.logprobs
        self.stop_ids = frozenset(params.stop_token_ids)
        self.last_token_id: int | None = None
        self.num_prompt_tokens: int | None = None
        self.num_cached_tokens: int | None = None
        self.final: UpstreamChunk | None = None

    def feed(self, event: dict[str, Any]) -> list[UpstreamChunk]:
        if "error" in event or event.get("object") == "error":
            raise UpstreamError(
                error_message(event, "the upstream reported an error"), status=error_status(event)
            )
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.num_prompt_tokens = usage.get("prompt_tokens", self.num_prompt_tokens)
            details = usage.get("prompt_tokens_details") or {}
            self.num_cached_tokens = details.get("cached_tokens", self.num_cached_tokens)
        chunks = []
        for choice in event.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # one sequence per upstream request: n is fanned out
            chunk = self._choice(choice)
            if chunk.finish_reason is not None:
                self.final = chunk  # held until the usage event: it carries the cache hit
            elif chunk.token_ids or chunk.num_prompt_tokens is not None:
                chunks.append(chunk)
        return chunks

    def _choice(self, choice: dict[str, Any]) -> UpstreamChunk:
        token_ids = choice.get("token_ids")
        if token_ids is None:
            raise UpstreamError(
                f"the {self.kind} upstream sent text without token ids: it ignores return_token_ids "
                "(vLLM needs a version with return_token_ids, added in 2025 by vLLM PR #22587)",
                status=502,
                kind="protocol",
            )
        prompt_ids = choice.get("prompt_token_ids")
        if prompt_ids is not None:
            self.num_prompt_tokens = len(prompt_ids)
        logprobs = None
        if self.num_top is not None:
            logprobs = completion_logprobs(choice.get("logprobs"), token_ids, self.num_top)
        if token_ids:
            self.last_token_id = token_ids[-1]
        finish = choice.get("finish_reason")
        stop_token_id = None
        if finish == "stop":
            stop_reason = choice.get("stop_reason")
            # An int stop_reason is the stop token; None is the model's EOS, which is the last token.
            stop_token_id = stop_reason if isinstance(stop_reason, int) else self.last_token_id
        elif finish not in (None, "length", "abort"):
            finish = "stop"  # an upstream's own reason (e.g. "repetition"): it stopped
        return UpstreamChunk(
            tuple(token_ids), logprobs, finish, stop_token_id, num_prompt_tokens=self.num_prompt_tokens
        )

    def end(self) -> list[UpstreamChunk]:
        if self.final is None:
            return []
        final, self.final = self.final, None
        return [
            replace(final, num_prompt_tokens=self.num_prompt_tokens, num_cached_tokens=self.num_cached_tokens)
        ]


class VLLMAdapter(Adapter):
    kind = "vllm"
    generate_path = "/v1/completions"

    def request_body(
        self, prompt_ids: list[int], params: SamplingParams, max_tokens: int, upstream_id: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt_ids,
            "max_tokens": max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": 1,
            "stream": True,
            "stream_options": {"include_usage": True},
            "return_token_ids": True,
            "skip_special_tokens": False,
            "spaces_between_special_tokens": False,
            "ignore_eos": True,
            # Gossamer's ignore_eos ignores every stop id (engine/engine.py): send none then.
            "stop_token_ids": [] if params.ignore_eos else list(params.stop_token_ids),
        }
        if params.top_k is not None:
            body["top_k"] = params.top_k
        if params.min_p:
            body["min_p"] = params.min_p
        if params.seed is not None:
            body["seed"] = params.seed
        if params.presence_penalty:
            body["presence_penalty"] = params.presence_penalty
        if params.frequency_penalty:
            body["frequency_penalty"] = params.frequency_penalty
        if params.logit_bias:
            body["logit_bias"] = {str(token_id): bias for token_id, bias in params.logit_bias.items()}
        if params.logprobs is not None:
            body["logprobs"] = params.logprobs
            body["return_tokens_as_token_ids"] = True
        return body

    def decoder(self, params: SamplingParams) -> ChunkDecoder:
        return CompletionsDecoder(params, self.kind)

    def probe_body(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt": PROBE_PROMPT,
            "max_tokens": 1,
            "temperature": 0,
            "return_token_ids": True,
            "skip_special_tokens": False,
        }

    def probe_problem(self, answer: dict[str, Any]) -> str | None:
        choices = answer.get("choices") or [{}]
        token_ids = choices[0].get("token_ids")
        if not isinstance(token_ids, list) or not all(isinstance(t, int) for t in token_ids):
            return (
                "its /v1/completions returned no token ids: Gossamer needs `return_token_ids` "
                "(vLLM has it since 2025, PR #22587; upgrade vLLM)"
            )
        return None
