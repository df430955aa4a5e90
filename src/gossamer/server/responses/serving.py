"""The Responses API's logic: prepare a request, run it through the engine, keep it in the store.

Request flow: items (normalize) -> translate (harmony messages, CoT rules) -> render (fit the
context) -> engine -> harmony StreamDecoder -> ResponseEventBuilder -> stream events; the
terminal event's response object is stored before that event is sent, so a client that chains
the next request the moment it sees `response.completed` always finds its predecessor.
Background responses run in a task of their own and can be followed, polled and cancelled.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from gossamer.engine.protocol import RequestOutput, SamplingParams
from gossamer.harmony.events import Finished, FinishReason
from gossamer.harmony.render import RenderedPrompt
from gossamer.harmony.stream import StreamDecoder
from gossamer.harmony.tokenizer import TokenTable, token_table
from gossamer.server.chat.choice import logprob_entry
from gossamer.server.errors import APIError
from gossamer.server.generation import Generation, new_request_id
from gossamer.server.responses.background import BackgroundRun
from gossamer.server.responses.errors import bad_request, not_found
from gossamer.server.responses.events import ResponseEventBuilder, StreamEvent, TerminalStatus
from gossamer.server.responses.items import Item, parse_input
from gossamer.server.responses.protocol import CreateResponseRequest, Usage
from gossamer.server.responses.request import check_include, check_metadata, new_response, to_conversation
from gossamer.server.responses.store import ChainBroken, ResponseStore
from gossamer.server.responses.translate import items_to_messages
from gossamer.server.responses.truncation import fit_to_context
from gossamer.server.state import ServerState

logger = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0  # how long a cancelled background run gets to wind down after the abort


@dataclass
class PreparedResponse:
    """A request converted once: what to run and what to keep."""

    request_id: str
    builder: ResponseEventBuilder
    rendered: RenderedPrompt
    input_items: list[Item]
    prompt_ids: list[int]
    params: SamplingParams
    store: bool
    background: bool

    @property
    def response(self) -> dict[str, Any]:
        return self.builder.response


def _engine_finish_reason(reason: str | None) -> FinishReason | None:
    # None lets the decoder tell a <|return|> from a <|call|>; only length and abort are news to it.
    return {"length": FinishReason.LENGTH, "abort": FinishReason.ABORT}.get(reason or "")


class ResponsesService:
    def __init__(self, state: ServerState, store: ResponseStore) -> None:
        self.state = state
        self.store = store
        self._runs: dict[str, BackgroundRun] = {}
        self._table: TokenTable | None = None
        num_failed = store.fail_interrupted()
        if num_failed:
            logger.warning("marked %d response(s) left unfinished by a previous server as failed", num_failed)

    # -- create -------------------------------------------------------------------------------

    def prepare(self, req: CreateResponseRequest) -> PreparedResponse:
        if req.background and req.store is False:
            raise bad_request("A background response must be stored; drop store=false.", param="background")
        check_include(req.include)
        check_metadata(req.metadata)
        for name in ("conversation", "prompt"):
            if getattr(req, name) is not None:
                raise bad_request(
                    f"'{name}' is not supported by this server; use previous_response_id or input.",
                    param=name,
                )
        model_name = self.state.model_name
        if req.model:
            resolved = self.state.resolve_model(req.model)
            if resolved is None:
                raise not_found(
                    f"The model '{req.model}' does not exist; this server serves '{self.state.model_name}'.",
                    param="model",
                    code="model_not_found",
                )
            model_name = resolved
        prior: list[Item] = []
        if req.previous_response_id:
            try:
                prior = self.store.conversation(req.previous_response_id)
            except ChainBroken as exc:
                detail = (
                    ""
                    if exc.response_id == req.previous_response_id
                    else f" (its ancestor '{exc.response_id}' is gone)"
                )
                raise not_found(
                    f"Previous response with id '{req.previous_response_id}' not found{detail}.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                ) from exc
        input_items = parse_input(req.input, resolve_reference=self.store.get_item)
        if not input_items and not prior:
            raise bad_request("Missing required parameter: 'input'.", param="input")
        conv = to_conversation(req, items_to_messages(prior + input_items))
        max_context = self.state.max_context_length
        rendered = fit_to_context(
            conv, truncation=req.truncation or "disabled", max_context_length=max_context
        )
        room = max_context - len(rendered.prompt_ids)
        max_tokens = room if req.max_output_tokens is None else min(req.max_output_tokens, room)
        params = SamplingParams(
            temperature=1.0 if req.temperature is None else req.temperature,
            top_p=1.0 if req.top_p is None else req.top_p,
            max_tokens=max_tokens,
            stop_token_ids=tuple(rendered.stop_token_ids),
            logprobs=_num_top_logprobs(req),
        )
        response = new_response(req, model_name)
        return PreparedResponse(
            request_id=new_request_id("resp"),
            builder=ResponseEventBuilder(response),
            rendered=rendered,
            input_items=input_items,
            prompt_ids=list(rendered.prompt_ids),
            params=params,
            store=response["store"],
            background=response["background"],
        )

    async def start(self, prepared: PreparedResponse) -> Generation:
        """Submit to the engine; a refused request raises an HTTP error before any byte is sent."""
        return await Generation.start(self.state, prepared.request_id, prepared.prompt_ids, prepared.params)

    async def run(
        self, prepared: PreparedResponse, gen: Generation, *, is_cancelled: Callable[[], bool] = lambda: False
    ) -> AsyncIterator[StreamEvent]:
        """Stream the response's events, ending with exactly one terminal event."""
        builder = prepared.builder
        for event in builder.start():
            yield event
        decoder = StreamDecoder.for_prompt(prepared.rendered)
        finished: Finished | None = None
        error: dict[str, Any] | None = None
        try:
            engine_reason: str | None = None
            async for output in gen:
                decoded: list[Any] = []
                for token_ids, logprobs in self._token_steps(prepared, output):
                    events = decoder.feed(token_ids)
                    finished = next((e for e in events if isinstance(e, Finished)), finished)
                    for event in builder.feed(events, logprobs):
                        yield event
                if output.finished:
                    engine_reason = output.finish_reason
                    # An engine may leave its stop token (<|call|>, <|return|>) out of the ids; the
                    # decoder needs it to tell a finished call from a cut-off one.
                    if output.stop_token_id is not None and not decoder.is_finished:
                        decoded += decoder.feed([output.stop_token_id])
                    if is_cancelled():
                        engine_reason = "abort"
                    decoded += decoder.finish(_engine_finish_reason(engine_reason))
                finished = next((e for e in decoded if isinstance(e, Finished)), finished)
                for event in builder.feed(decoded):
                    yield event
            if finished is None:  # the engine's stream ended without a finished output
                tail = decoder.finish(FinishReason.ABORT if is_cancelled() else None)
                finished = next((e for e in tail if isinstance(e, Finished)), None)
                for event in builder.feed(tail):
                    yield event
        except Exception as exc:  # the engine or decoder broke: the response fails, the server lives
            logger.exception("response %s failed", prepared.response["id"])
            error = {"code": "server_error", "message": f"The model run failed: {exc}"}
        finally:
            await gen.close()
        usage = Usage.of(
            input_tokens=gen.num_prompt_tokens,
            cached_tokens=gen.num_cached_tokens,
            output_tokens=gen.num_generated_tokens,
            reasoning_tokens=finished.reasoning_tokens if finished else 0,
        ).model_dump()
        status, incomplete_reason = _terminal_status(finished, error, cancelled=is_cancelled())
        terminal = builder.finish(status, usage=usage, incomplete_reason=incomplete_reason, error=error)
        if prepared.store:
            await self._save(builder.response, prepared.input_items)
        for event in terminal:
            yield event

    def _token_steps(
        self, prepared: PreparedResponse, output: RequestOutput
    ) -> list[tuple[list[int], list[dict[str, Any]] | None]]:
        """The output's tokens in feeding steps: all at once, or one by one with each logprob."""
        num_top = prepared.params.logprobs
        if num_top is None or not output.logprobs:
            return [(list(output.token_ids), None)]
        table = self._token_table()
        return [
            (
                [token_id],
                [logprob_entry(table, lp, num_top)] if token_id not in table.special_names else None,
            )
            for token_id, lp in zip(output.token_ids, output.logprobs, strict=False)
        ]

    def _token_table(self) -> TokenTable:
        if self._table is None:
            self._table = token_table()
        return self._table

    async def create(self, prepared: PreparedResponse) -> dict[str, Any]:
        """Run a foreground request to its end and return the terminal event's response."""
        gen = await self.start(prepared)
        async for _ in self.run(prepared, gen):
            pass
        return prepared.response

    # -- background ---------------------------------------------------------------------------

    async def _save(self, response: dict[str, Any], input_items: list[Item] | None = None) -> None:
        # A durable commit waits for an fsync: off the event loop, so other streams keep flowing.
        await asyncio.to_thread(self.store.save, copy.deepcopy(response), input_items)

    async def start_background(self, prepared: PreparedResponse) -> BackgroundRun:
        run = BackgroundRun(prepared)
        await self._save(prepared.response, prepared.input_items)  # queued: visible to GET at once
        self._runs[prepared.response["id"]] = run
        run.task = asyncio.create_task(self._drive(run), name=f"response {prepared.response['id']}")
        return run

    async def _drive(self, run: BackgroundRun) -> None:
        prepared = run.prepared
        try:
            try:
                gen = await self.start(prepared)
            except APIError as exc:
                for event in prepared.builder.start():
                    run.push(event)
                code = "rate_limit_exceeded" if exc.status == 429 else "invalid_prompt"
                error = {"code": code, "message": exc.message}
                for event in prepared.builder.finish("failed", usage=None, error=error):
                    run.push(event)
                await self._save(prepared.response)
                return
            async for event in self.run(prepared, gen, is_cancelled=lambda: run.cancel_requested):
                run.push(event)
        except asyncio.CancelledError:
            if not prepared.builder.finished:
                for event in prepared.builder.finish("cancelled", usage=None):
                    run.push(event)
                await self._save(prepared.response)
        finally:
            run.close()
            self._runs.pop(prepared.response["id"], None)

    def live_run(self, response_id: str) -> BackgroundRun | None:
        return self._runs.get(response_id)

    async def cancel(self, response_id: str) -> dict[str, Any]:
        run = self._runs.get(response_id)
        if run is None:
            response = self.retrieve(response_id)
            if not response.get("background"):
                raise bad_request("Only background responses can be cancelled.", param="response_id")
            if response["status"] == "cancelled":
                return response  # cancelling twice is harmless
            raise bad_request(f"Cannot cancel a response whose status is '{response['status']}'.")
        run.cancel_requested = True
        await self.state.engine.abort(run.prepared.request_id)
        assert run.task is not None
        done, _ = await asyncio.wait({run.task}, timeout=CANCEL_GRACE_S)
        if not done:  # the engine did not end the stream: stop following it
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
        return copy.deepcopy(run.prepared.response)

    # -- read and delete ----------------------------------------------------------------------

    def retrieve(self, response_id: str) -> dict[str, Any]:
        run = self._runs.get(response_id)
        if run is not None:
            return copy.deepcopy(run.prepared.response)
        response = self.store.get(response_id)
        if response is None:
            raise not_found(f"Response with id '{response_id}' not found.", param="response_id")
        return response

    async def delete(self, response_id: str) -> None:
        run = self._runs.get(response_id)
        if run is not None and run.task is not None:
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
        if not self.store.delete(response_id):
            raise not_found(f"Response with id '{response_id}' not found.", param="response_id")

    def input_items(
        self, response_id: str, *, limit: int, order: str, after: str | None, before: str | None
    ) -> tuple[list[Item], bool]:
        if self.store.get(response_id) is None:
            raise not_found(f"Response with id '{response_id}' not found.", param="response_id")
        return self.store.input_items(response_id, limit=limit, order=order, after=after, before=before)

    async def shutdown(self) -> None:
        for run in list(self._runs.values()):
            if run.task is not None:
                run.task.cancel()
        await asyncio.gather(*(run.task for run in self._runs.values() if run.task), return_exceptions=True)


def _num_top_logprobs(req: CreateResponseRequest) -> int | None:
    """None: no logprobs; k: the sampled token's logprob plus the k likeliest (OpenAI's rules)."""
    if req.top_logprobs is not None:
        return req.top_logprobs
    return 0 if "message.output_text.logprobs" in (req.include or []) else None


def _terminal_status(
    finished: Finished | None, error: dict[str, Any] | None, *, cancelled: bool
) -> tuple[TerminalStatus, str | None]:
    if error is not None:
        return "failed", None
    if cancelled or (finished is not None and finished.reason == FinishReason.ABORT):
        return "cancelled", None
    if finished is not None and finished.reason == FinishReason.LENGTH:
        return "incomplete", "max_output_tokens"
    return "completed", None
