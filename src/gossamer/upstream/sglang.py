"""SGLang's native `/generate`, token in and token out.

The fields, as SGLang documents them (docs/basic_usage/sampling_params.md, `GenerateReqInput`):
- request: `input_ids`; `sampling_params` with `max_new_tokens` (default 128: always sent),
  `temperature`, `top_p`, `top_k` (-1: off), `min_p`, `frequency_penalty`, `presence_penalty`,
  `stop_token_ids`, `ignore_eos`, `skip_special_tokens`, `logit_bias` (string keys) and
  `sampling_seed`; `stream`; `rid`; `return_logprob`, `top_logprobs_num`, `logprob_start_len`
  (-1: output tokens only).
- stream: `data: {"text", "output_ids", "meta_info"}` events, then `data: [DONE]`. `output_ids` are
  the whole output so far, or only the new ids when SGLang runs with
  `--incremental-streaming-output` (both are read: `meta_info.completion_tokens` tells them apart).
  `meta_info.finish_reason` is None while running, else `{"type": "stop", "matched": <token id>}`,
  `{"type": "length", ...}` or `{"type": "abort", "message": ...}`; `meta_info` also carries
  `prompt_tokens`, `cached_tokens` and, with logprobs, `output_token_logprobs` as
  `[logprob, token_id, text]` and `output_top_logprobs` as lists of those. Errors mid-stream are
  `data: {"error": {"message": ...}}`. Closing the stream aborts the request.

A seed is honoured only by a server started with `--enable-deterministic-inference` (its seeded
sampler; the default FlashInfer sampler has no per-request seed), read from `/get_server_info`.
"""

from __future__ import annotations

from typing import Any

from gossamer.engine.protocol import SamplingParams, TokenLogprob
from gossamer.upstream.adapter import (
    PROBE_PROMPT,
    Adapter,
    ChunkDecoder,
    Refusal,
    UpstreamChunk,
    UpstreamError,
    error_message,
    error_status,
)


def _logprobs(
    values: list[Any], tops: list[Any], token_ids: list[int], num_top: int
) -> tuple[TokenLogprob, ...]:
    if len(values) < len(token_ids):
        raise UpstreamError(
            f"{len(values)} logprobs for {len(token_ids)} tokens", status=502, kind="protocol"
        )
    out = []
    for i, token_id in enumerate(token_ids):
        logprob = values[i][0]
        top = tops[i] if i < len(tops) and tops[i] else []
        ranked = sorted(((int(t[1]), float(t[0])) for t in top), key=lambda item: -item[1])
        out.append(
            TokenLogprob(
                token_id, float(logprob) if logprob is not None else float("-inf"), tuple(ranked[:num_top])
            )
        )
    return tuple(out)


class GenerateDecoder(ChunkDecoder):
    def __init__(self, params: SamplingParams) -> None:
        self.num_top = params.logprobs
        self.num_seen = 0  # output ids delivered so far
        self.last_token_id: int | None = None

    def feed(self, event: dict[str, Any]) -> list[UpstreamChunk]:
        if "error" in event:
            raise UpstreamError(
                error_message(event, "the upstream reported an error"), status=error_status(event)
            )
        output_ids = event.get("output_ids")
        if output_ids is None:
            raise UpstreamError(
                "the sglang upstream sent an event without output_ids", status=502, kind="protocol"
            )
        meta = event.get("meta_info") or {}
        completion_tokens = meta.get("completion_tokens")
        # The default stream repeats the whole output; --incremental-streaming-output sends only the new.
        cumulative = completion_tokens is None or len(output_ids) == completion_tokens
        offset = self.num_seen if cumulative else 0
        new_ids = list(output_ids[offset:])
        logprobs = None
        if self.num_top is not None:
            values = (meta.get("output_token_logprobs") or [])[offset:]
            tops = (meta.get("output_top_logprobs") or [])[offset:]
            logprobs = _logprobs(values, tops, new_ids, self.num_top)
        self.num_seen += len(new_ids)
        if new_ids:
            self.last_token_id = new_ids[-1]
        finish, stop_token_id = self._finish(meta.get("finish_reason"))
        if not new_ids and finish is None:
            return []
        return [
            UpstreamChunk(
                tuple(new_ids),
                logprobs,
                finish,
                stop_token_id,
                num_prompt_tokens=meta.get("prompt_tokens"),
                num_cached_tokens=meta.get("cached_tokens"),
            )
        ]

    def _finish(self, reason: Any) -> tuple[str | None, int | None]:
        if not isinstance(reason, dict):
            return None, None
        kind = reason.get("type")
        if kind == "stop":
            matched = reason.get("matched")
            return "stop", matched if isinstance(matched, int) else self.last_token_id
        if kind == "length":
            return "length", None
        if kind == "abort" and self.num_seen == 0:
            # Aborted before any token: a refusal (status_code 4xx) or a failure, not an answer.
            status = reason.get("status_code")
            raise UpstreamError(
                str(reason.get("message") or "the upstream aborted the request"),
                status=status if isinstance(status, int) else None,
            )
        return "abort", None


class SGLangAdapter(Adapter):
    kind = "sglang"
    generate_path = "/generate"

    def refusal(self, params: SamplingParams) -> Refusal | None:
        if params.seed is not None and not self.supports_seed:
            return Refusal(
                "seed",
                "A seed cannot be honoured by this server's SGLang upstream: SGLang applies one only when "
                "launched with --enable-deterministic-inference. Leave seed out, or restart SGLang with it.",
            )
        return super().refusal(params)

    def request_body(
        self, prompt_ids: list[int], params: SamplingParams, max_tokens: int, upstream_id: str
    ) -> dict[str, Any]:
        sampling: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": -1 if params.top_k is None else params.top_k,
            "min_p": params.min_p,
            "frequency_penalty": params.frequency_penalty,
            "presence_penalty": params.presence_penalty,
            "ignore_eos": params.ignore_eos,
            "skip_special_tokens": False,
            "spaces_between_special_tokens": False,
            "no_stop_trim": True,
        }
        if params.stop_token_ids and not params.ignore_eos:
            sampling["stop_token_ids"] = list(params.stop_token_ids)
        if params.logit_bias:
            sampling["logit_bias"] = {str(token_id): bias for token_id, bias in params.logit_bias.items()}
        if params.seed is not None:
            sampling["sampling_seed"] = params.seed
        body: dict[str, Any] = {
            "input_ids": prompt_ids,
            "sampling_params": sampling,
            "stream": True,
            "rid": upstream_id,
        }
        if params.logprobs is not None:
            body.update(return_logprob=True, top_logprobs_num=params.logprobs, logprob_start_len=-1)
        return body

    def decoder(self, params: SamplingParams) -> ChunkDecoder:
        return GenerateDecoder(params)

    def probe_body(self) -> dict[str, Any]:
        return {"input_ids": PROBE_PROMPT, "sampling_params": {"max_new_tokens": 1, "temperature": 0}}

    def probe_problem(self, answer: dict[str, Any]) -> str | None:
        output_ids = answer.get("output_ids") if isinstance(answer, dict) else None
        if not isinstance(output_ids, list):
            return "its /generate returned no output_ids (is it an SGLang server?)"
        return None
