"""POST /v1/completions: a raw prompt (text or ids) continued as plain text, whole or streamed.

No chat template: prompt text may itself be hand-written harmony, so special tokens in it are
encoded as the control tokens they spell, and generated special tokens are shown by name.
vLLM's token fields (a prompt of ids, `return_token_ids`, `stop_token_ids`, ...) are honoured as
vLLM does (choice.py), so a Gossamer server can be the upstream of a Gossamer front.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gossamer.engine.protocol import SamplingParams
from gossamer.grammar.errors import ConstraintError
from gossamer.grammar.plan import constrain_completion
from gossamer.harmony.tokenizer import VOCAB_SIZE, TokenTable, token_table
from gossamer.server.chat.convert import stop_strings, to_logit_bias
from gossamer.server.completions.choice import ChoiceDelta, TextChoice, TokenView
from gossamer.server.completions.protocol import CompletionRequest
from gossamer.server.detokenizer import IncrementalDetokenizer
from gossamer.server.errors import invalid_param
from gossamer.server.generation import (
    check_context,
    new_request_id,
    run_unless_disconnected,
    start_generation,
    token_usage,
)
from gossamer.server.sse import openai_stream, sse_data, sse_response
from gossamer.server.state import ServerState, require_model
from gossamer.server.structured_outputs import structured_param, to_structured_outputs
from gossamer.turn.generation import Generation
from gossamer.turn.stop_strings import StopMatcher

logger = logging.getLogger(__name__)

_END_OF_TEXT = "<|endoftext|>"


# Prompts one request may carry (OpenAI's API takes a list of prompts; evaluation harnesses send them).
MAX_BATCH_PROMPTS = 64


def _one_prompt(state: ServerState, prompt: str | list[int]) -> list[int]:
    if isinstance(prompt, str):
        ids = state.pipeline.encode(prompt)  # a large text is encoded in the render pool
    else:
        ids = list(prompt)
        bad = next((t for t in ids if not 0 <= t < VOCAB_SIZE), None)
        if bad is not None:
            raise invalid_param(f"Token id {bad} is outside the vocabulary [0, {VOCAB_SIZE}).", "prompt")
    if not ids:
        raise invalid_param("The prompt is empty.", "prompt")
    return ids


def prompt_batch(
    state: ServerState, prompt: str | list[str] | list[int] | list[list[int]]
) -> list[list[int]]:
    """The request's prompts as token ids: one text, one list of ids, or a list of either."""
    if isinstance(prompt, str) or (prompt and all(isinstance(t, int) for t in prompt)):
        return [_one_prompt(state, prompt)]  # type: ignore[arg-type]
    if not prompt:
        raise invalid_param("The prompt is empty.", "prompt")
    if len(prompt) > MAX_BATCH_PROMPTS:
        raise invalid_param(f"{len(prompt)} prompts in one request; at most {MAX_BATCH_PROMPTS}.", "prompt")
    return [_one_prompt(state, p) for p in prompt]  # type: ignore[arg-type]


def stop_token_ids(state: ServerState, table: TokenTable, body: CompletionRequest) -> list[int]:
    """Raw text ends where harmony ends a message or the document ends, and at the request's own ids.

    `ignore_eos` drops the first two, as vLLM's drops the model's EOS: `stop_token_ids` still stop.
    """
    requested = body.stop_token_ids or []
    bad = next((t for t in requested if not 0 <= t < VOCAB_SIZE), None)
    if bad is not None:
        raise invalid_param(f"Token id {bad} is outside the vocabulary [0, {VOCAB_SIZE}).", "stop_token_ids")
    defaults = [] if body.ignore_eos else [*state.encoding.stop_tokens(), table.special_ids[_END_OF_TEXT]]
    return list(dict.fromkeys([*defaults, *requested]))


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
        top_k=body.top_k if body.top_k and body.top_k > 0 else None,
        min_p=body.min_p or 0.0,
        structured_outputs=to_structured_outputs(body),
    )


async def with_constraint(params: SamplingParams, body: CompletionRequest) -> SamplingParams:
    """Compile vLLM's structured outputs (off the event loop); what cannot be enforced is a 400."""
    if params.structured_outputs is None:
        return params
    try:
        return await asyncio.to_thread(constrain_completion, params)
    except ConstraintError as exc:
        raise invalid_param(str(exc), structured_param(body)) from exc


class CompletionRun:
    def __init__(
        self,
        state: ServerState,
        body: CompletionRequest,
        model: str,
        gen: Generation,
        echo: str,
        first_index: int = 0,
        completion_id: str | None = None,
    ) -> None:
        self.body = body
        self.model = model
        self.gen = gen
        self.id = completion_id or gen.request_id
        self.created = int(time.time())
        self.table = token_table()
        self.echo = echo
        self.view = TokenView(
            body.logprobs, bool(body.return_token_ids), bool(body.return_tokens_as_token_ids)
        )
        stops = stop_strings(body.stop)
        stop_ids = frozenset(gen.params.stop_token_ids)
        self.choices = [
            TextChoice(
                first_index + i,
                IncrementalDetokenizer(skip_special=bool(body.skip_special_tokens)),
                StopMatcher(stops) if stops else None,
                stop_ids,
                offset=len(echo),
            )
            for i in range(gen.params.n)
        ]

    @property
    def num_completion_tokens(self) -> int:
        return sum(c.num_tokens for c in self.choices)

    async def deltas(self) -> AsyncIterator[tuple[TextChoice, ChoiceDelta]]:
        async for output in self.gen:
            choice = self.choices[output.index]
            was_done = choice.done
            delta = choice.step(output, self.table, self.view)
            if not was_done:
                yield choice, delta
            if all(c.done for c in self.choices):
                break

    def token_fields(self, choice: TextChoice, token_ids: list[int]) -> dict[str, Any]:
        """vLLM's return_token_ids fields of a choice (or of its delta, with the delta's ids)."""
        if not self.body.return_token_ids:
            return {}
        fields: dict[str, Any] = {"token_ids": token_ids, "stop_reason": choice.stop_reason}
        if not choice.prompt_ids_sent:
            fields["prompt_token_ids"] = list(self.gen.prompt_ids)
            choice.prompt_ids_sent = True
        return fields

    async def collect(self) -> list[dict[str, Any]]:
        """This prompt's finished choices."""
        texts = {c.index: "" for c in self.choices}
        try:
            async for choice, delta in self.deltas():
                texts[choice.index] += delta.text
        finally:
            await self.gen.close()
        return [
            {
                "index": c.index,
                "text": self.echo + texts[c.index],
                "logprobs": c.logprobs if self.body.logprobs is not None else None,
                "finish_reason": c.finish_reason or "stop",
                **self.token_fields(c, c.token_ids),
            }
            for c in self.choices
        ]


def total_usage(runs: list[CompletionRun]) -> dict[str, Any]:
    return token_usage(
        sum(run.gen.num_prompt_tokens for run in runs),
        sum(run.num_completion_tokens for run in runs),
        sum(run.gen.num_cached_tokens for run in runs),
    )


async def collect_runs(runs: list[CompletionRun]) -> dict[str, Any]:
    try:
        per_prompt = await asyncio.gather(*(run.collect() for run in runs))
    finally:
        for run in runs:
            await run.gen.close()
    first = runs[0]
    return {
        "id": first.id,
        "object": "text_completion",
        "created": first.created,
        "model": first.model,
        "choices": [choice for choices in per_prompt for choice in choices],
        "usage": total_usage(runs),
    }


RunDelta = tuple[CompletionRun, TextChoice, ChoiceDelta]


async def _merged_deltas(runs: list[CompletionRun]) -> AsyncIterator[RunDelta]:
    """Every run's deltas as they come (one run: its own order)."""
    if len(runs) == 1:
        async for choice, delta in runs[0].deltas():
            yield runs[0], choice, delta
        return
    queue: asyncio.Queue[RunDelta | Exception | None] = asyncio.Queue()

    async def pump(run: CompletionRun) -> None:
        try:
            async for choice, delta in run.deltas():
                await queue.put((run, choice, delta))
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put(exc)
        finally:
            await queue.put(None)

    tasks = [asyncio.ensure_future(pump(run)) for run in runs]
    try:
        remaining = len(runs)
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def stream_runs(runs: list[CompletionRun]) -> AsyncIterator[bytes]:
    return openai_stream(_run_frames(runs), f"completion stream {runs[0].id}")


async def _run_frames(runs: list[CompletionRun]) -> AsyncGenerator[bytes, None]:
    first = runs[0]
    body = first.body
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        payload = {
            "id": first.id,
            "object": "text_completion",
            "created": first.created,
            "model": first.model,
            "choices": choices,
        }
        if include_usage:
            payload["usage"] = usage
        return sse_data(payload)

    try:
        for run in runs:
            if run.echo:
                for c in run.choices:
                    echo = {"index": c.index, "text": run.echo, "logprobs": None, "finish_reason": None}
                    yield chunk([echo])
        async for run, choice, delta in _merged_deltas(runs):
            # With return_token_ids a delta of tokens that show no text (a stop token) is still news.
            ids_news = bool(body.return_token_ids and delta.token_ids)
            if delta.text or delta.rows["tokens"] or choice.finish_reason or ids_news:
                logprobs = delta.rows if body.logprobs is not None else None
                payload = {"index": choice.index, "text": delta.text, "logprobs": logprobs,
                           "finish_reason": choice.finish_reason, **run.token_fields(choice, delta.token_ids)}
                yield chunk([payload])
        if include_usage:
            yield chunk([], total_usage(runs))
    finally:
        for run in runs:
            await run.gen.close()


async def create_completion(state: ServerState, body: CompletionRequest, raw: Request) -> Response:
    model = require_model(state, body.model)
    # Tokenizing grows with the prompt (megabytes of text take seconds): off the event loop.
    prompts = await asyncio.to_thread(prompt_batch, state, body.prompt)
    table = token_table()
    params = await with_constraint(to_sampling_params(state, body, stop_token_ids(state, table, body)), body)
    for ids in prompts:
        check_context(len(ids), params.max_tokens, state.max_context_length, "prompt")
    completion_id = new_request_id("cmpl")
    runs: list[CompletionRun] = []
    try:
        for p, ids in enumerate(prompts):
            # One engine request per prompt; choice indices run prompt by prompt (p * n + i), as OpenAI's do.
            request_id = completion_id if len(prompts) == 1 else f"{completion_id}-{p}"
            start = start_generation(state, request_id, ids, params, "prompt")
            gen = await run_unless_disconnected(raw, asyncio.ensure_future(start))
            echo = IncrementalDetokenizer().push(ids) if body.echo else ""
            runs.append(CompletionRun(state, body, model, gen, echo, p * params.n, completion_id))
    except BaseException:
        for run in runs:  # a later prompt was refused: nothing of this request keeps running
            await run.gen.close()
        raise
    if body.stream:
        return sse_response(stream_runs(runs))
    return JSONResponse(await run_unless_disconnected(raw, asyncio.ensure_future(collect_runs(runs))))
