"""POST /v1/completions: a raw prompt (text or ids) continued as plain text, whole or streamed.

No chat template: prompt text may itself be hand-written harmony, so special tokens in it are
encoded as the control tokens they spell, and generated special tokens are shown by name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gossamer.engine.protocol import RequestOutput, SamplingParams
from gossamer.harmony.tokenizer import VOCAB_SIZE, TokenTable, token_table
from gossamer.server.chat.convert import stop_strings, to_logit_bias
from gossamer.server.completions.protocol import CompletionRequest
from gossamer.server.detokenizer import IncrementalDetokenizer, token_string
from gossamer.server.errors import error_body, invalid_param
from gossamer.server.generation import Generation, check_context, new_request_id, run_unless_disconnected
from gossamer.server.sse import DONE, sse_data, sse_response
from gossamer.server.state import ServerState, require_model
from gossamer.server.stop_strings import StopMatcher

logger = logging.getLogger(__name__)

_END_OF_TEXT = "<|endoftext|>"


def prompt_ids(state: ServerState, prompt: str | list[str] | list[int] | list[list[int]]) -> list[int]:
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]  # a batch of one
    if isinstance(prompt, str):
        ids = list(state.encoding.encode(prompt, allowed_special="all"))
    elif all(isinstance(t, int) for t in prompt):
        ids = list(prompt)  # type: ignore[arg-type]
        bad = next((t for t in ids if not 0 <= t < VOCAB_SIZE), None)
        if bad is not None:
            raise invalid_param(f"Token id {bad} is outside the vocabulary [0, {VOCAB_SIZE}).", "prompt")
    else:
        raise invalid_param("Batched prompts are not supported; send one prompt per request.", "prompt")
    if not ids:
        raise invalid_param("The prompt is empty.", "prompt")
    return ids


def stop_token_ids(state: ServerState, table: TokenTable) -> list[int]:
    # Raw text ends where harmony ends a message or the document ends.
    return [*state.encoding.stop_tokens(), table.special_ids[_END_OF_TEXT]]


def to_sampling_params(state: ServerState, body: CompletionRequest, stops: list[int]) -> SamplingParams:
    n = body.n or 1
    if n > state.max_n:
        raise invalid_param(f"n={n} is more than this server allows ({state.max_n}).", "n")
    if body.best_of is not None and body.best_of != n:
        raise invalid_param("best_of other than n is not supported.", "best_of")
    if body.suffix:
        raise invalid_param("suffix (insertion) is not supported by this model.", "suffix")
    return SamplingParams(
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        seed=body.seed,
        max_tokens=body.max_tokens,
        stop_token_ids=tuple(stops),
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        logit_bias=to_logit_bias(body.logit_bias, VOCAB_SIZE),
        logprobs=body.logprobs,
        n=n,
    )


@dataclass
class TextChoice:
    index: int
    detokenizer: IncrementalDetokenizer
    stop: StopMatcher | None
    stop_ids: frozenset[int]
    num_tokens: int = 0
    done: bool = False
    finish_reason: str | None = None
    offset: int = 0  # characters of text produced so far (logprobs' text_offset)
    logprobs: dict[str, list[Any]] = field(
        default_factory=lambda: {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    )

    def step(
        self, output: RequestOutput, table: TokenTable, num_top: int | None
    ) -> tuple[str, dict[str, list]]:
        """New text and new logprob rows for this delta."""
        rows: dict[str, list[Any]] = {
            "tokens": [],
            "token_logprobs": [],
            "top_logprobs": [],
            "text_offset": [],
        }
        if self.done:
            return "", rows
        ids = [t for t in output.token_ids if t not in self.stop_ids]  # the stop token is not text
        self.num_tokens += len(output.token_ids)
        if (
            output.finished
            and output.stop_token_id is not None
            and output.stop_token_id not in output.token_ids
        ):
            self.num_tokens += 1
        text = self.detokenizer.push(ids)
        if num_top is not None and output.logprobs:
            offset = self.offset
            for lp in output.logprobs:
                if lp.token_id in self.stop_ids:
                    continue
                token = token_string(table, lp.token_id)
                rows["tokens"].append(token)
                rows["token_logprobs"].append(lp.logprob)
                rows["top_logprobs"].append({token_string(table, t): v for t, v in lp.top[:num_top]})
                rows["text_offset"].append(offset)
                offset += len(token)
        if output.finished:
            text += self.detokenizer.flush()
        if self.stop is not None:
            text = self.stop.push(text) + (self.stop.flush() if output.finished else "")
            if self.stop.stopped:
                self.done, self.finish_reason = True, "stop"
        if output.finished and not self.done:
            self.done = True
            self.finish_reason = "length" if output.finish_reason == "length" else "stop"
        self.offset += len(text)
        for key, values in rows.items():
            self.logprobs[key].extend(values)
        return text, rows


class CompletionRun:
    def __init__(
        self, state: ServerState, body: CompletionRequest, model: str, gen: Generation, echo: str
    ) -> None:
        self.body = body
        self.model = model
        self.gen = gen
        self.id = gen.request_id
        self.created = int(time.time())
        self.table = token_table()
        self.echo = echo
        stops = stop_strings(body.stop)
        stop_ids = frozenset(gen.params.stop_token_ids)
        self.choices = [
            TextChoice(
                i, IncrementalDetokenizer(), StopMatcher(stops) if stops else None, stop_ids, offset=len(echo)
            )
            for i in range(gen.params.n)
        ]

    def usage(self) -> dict[str, Any]:
        completion = sum(c.num_tokens for c in self.choices)
        return {
            "prompt_tokens": self.gen.num_prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.gen.num_prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": self.gen.num_cached_tokens},
        }

    async def deltas(self) -> AsyncIterator[tuple[TextChoice, str, dict[str, list]]]:
        async for output in self.gen:
            choice = self.choices[output.index]
            was_done = choice.done
            text, rows = choice.step(output, self.table, self.body.logprobs)
            if not was_done:
                yield choice, text, rows
            if all(c.done for c in self.choices):
                break

    async def collect(self) -> dict[str, Any]:
        texts = ["" for _ in self.choices]
        try:
            async for choice, text, _ in self.deltas():
                texts[choice.index] += text
        finally:
            await self.gen.close()
        return {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": c.index,
                    "text": self.echo + texts[c.index],
                    "logprobs": c.logprobs if self.body.logprobs is not None else None,
                    "finish_reason": c.finish_reason or "stop",
                }
                for c in self.choices
            ],
            "usage": self.usage(),
        }

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        payload = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.body.stream_options and self.body.stream_options.include_usage:
            payload["usage"] = usage
        return sse_data(payload)

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            if self.echo:
                for c in self.choices:
                    yield self._chunk(
                        [{"index": c.index, "text": self.echo, "logprobs": None, "finish_reason": None}]
                    )
            async for choice, text, rows in self.deltas():
                if text or rows["tokens"] or choice.finish_reason:
                    yield self._chunk(
                        [
                            {
                                "index": choice.index,
                                "text": text,
                                "logprobs": rows if self.body.logprobs is not None else None,
                                "finish_reason": choice.finish_reason,
                            }
                        ]
                    )
            if self.body.stream_options and self.body.stream_options.include_usage:
                yield self._chunk([], self.usage())
            yield DONE
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception:
            logger.exception("completion stream %s failed", self.id)
            yield sse_data(error_body("The server failed while generating.", "server_error"))
            yield DONE
        finally:
            await self.gen.close()


async def create_completion(state: ServerState, body: CompletionRequest, raw: Request) -> Response:
    model = require_model(state, body.model)
    ids = prompt_ids(state, body.prompt)
    table = token_table()
    params = to_sampling_params(state, body, stop_token_ids(state, table))
    check_context(len(ids), params.max_tokens, state.max_context_length, "prompt")
    echo = IncrementalDetokenizer().push(ids) if body.echo else ""
    start = Generation.start(state, new_request_id("cmpl"), ids, params)
    gen = await run_unless_disconnected(raw, asyncio.ensure_future(start))
    run = CompletionRun(state, body, model, gen, echo)
    if body.stream:
        return sse_response(run.stream())
    return JSONResponse(await run_unless_disconnected(raw, asyncio.ensure_future(run.collect())))
