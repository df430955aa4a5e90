"""The Responses API's logic: prepare a request, run it through the engine, keep it in the store.

Request flow: items (normalize) -> translate (harmony messages, CoT rules) -> render (fit the
context) -> engine -> harmony StreamDecoder -> ResponseEventBuilder -> stream events; the
terminal event's response object is stored before that event is sent, so a client that chains
the next request the moment it sees `response.completed` always finds its predecessor.
Background responses run in a task of their own and can be followed, polled and cancelled.
A response on a `conversation` reads the conversation's items as its context and, once it ends
(completed, incomplete or cancelled; not failed), appends its input and output items to it, before
its terminal event is sent; one response at a time holds a conversation. A response with MCP
servers (mcp_tools.py) lists their tools and runs the calls approved in it after the thread's
part of `prepare` and before its turn is rendered: the tools it may call depend on them.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from gossamer.engine.protocol import SamplingParams
from gossamer.grammar.errors import ConstraintError
from gossamer.harmony.events import Finished, FinishReason
from gossamer.harmony.render import RenderError
from gossamer.harmony.tokenizer import TokenTable, token_table
from gossamer.server.chat.choice import logprob_entry
from gossamer.server.conversations.locks import ConversationLocks, Lease
from gossamer.server.conversations.store import ConversationStore
from gossamer.server.errors import APIError
from gossamer.server.generation import ParamNames, new_request_id, start_turn
from gossamer.server.responses.background import BackgroundRun
from gossamer.server.responses.builtin_tools import ran_a_tool, toolbox_for, with_tools
from gossamer.server.responses.errors import bad_request, not_found
from gossamer.server.responses.events import ResponseEventBuilder, StreamEvent, TerminalStatus
from gossamer.server.responses.items import Item, parse_input
from gossamer.server.responses.mcp_tools import McpTurn
from gossamer.server.responses.protocol import CreateResponseRequest, Usage
from gossamer.server.responses.request import (
    check_include,
    check_metadata,
    conversation_param,
    new_response,
    to_conversation,
)
from gossamer.server.responses.store import ChainBroken, ResponseStore, StoreUnavailable
from gossamer.server.responses.translate import items_to_messages
from gossamer.server.state import ServerState
from gossamer.tools.toolbox import ToolBox
from gossamer.turn import ContextOverflow, PreparedTurn, Turn, TurnSpec

logger = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0  # how long a cancelled background run gets to wind down after the abort
PARAMS = ParamNames(prompt="input", output="max_output_tokens")


@dataclass
class ConversationTurn:
    """The conversation a response belongs to, held (its lease) until the turn's items are in."""

    id: str
    lease: Lease
    appended: bool = False


@dataclass
class PreparedResponse:
    """A request converted once: what to run and what to keep."""

    request_id: str
    builder: ResponseEventBuilder
    turn: PreparedTurn | None  # None until an MCP response's prelude ran (`ResponsesService.prepare`)
    input_items: list[Item]
    store: bool
    background: bool
    tenant: str = ""  # whose response it is (the API key's digest)
    toolbox: ToolBox | None = None  # the built-in tools it runs (web_search, code_interpreter)
    conversation: ConversationTurn | None = None
    mcp: McpTurn | None = None  # its MCP servers; the turn is prepared once they are listed
    spec: Callable[[list[Item], ToolBox | None], TurnSpec] | None = None  # the turn, given MCP's items

    @property
    def response(self) -> dict[str, Any]:
        return self.builder.response


class ResponsesService:
    """Responses over one store; with no store (it could not be opened) only store=false works."""

    def __init__(
        self,
        state: ServerState,
        store: ResponseStore | None,
        store_error: str | None = None,
        conversations: ConversationStore | None = None,
    ) -> None:
        self.state = state
        self._store = store
        self.conversations = conversations  # in the same SQLite file; None when it could not open
        self._conversation_locks = ConversationLocks()
        self.store_error = store_error
        self._runs: dict[str, BackgroundRun] = {}
        self._table: TokenTable | None = None
        if store is not None:
            num_failed = store.fail_interrupted()
            if num_failed:
                logger.warning("%d response(s) a previous server left unfinished marked failed", num_failed)

    @property
    def store(self) -> ResponseStore:
        if self._store is None:
            raise store_unavailable(self.store_error or "The response store is not open.")
        return self._store

    # -- create -------------------------------------------------------------------------------

    async def prepare(self, req: CreateResponseRequest, tenant: str = "") -> PreparedResponse:
        """Everything before the engine, in a worker thread: it reads the store (the chain of
        previous_response_id) and converts, renders and compiles what grows with the request."""
        prepared = await asyncio.to_thread(self._prepare, req, tenant)
        if prepared.mcp is not None:
            try:
                await self._prepare_mcp(prepared, req)
            except BaseException:
                if prepared.conversation is not None:
                    prepared.conversation.lease.release()
                raise
        return prepared

    async def _prepare_mcp(self, prepared: PreparedResponse, req: CreateResponseRequest) -> None:
        """List the MCP servers' tools and run the approved calls (their items open the output),
        then prepare the turn with those tools offered and those calls in its history."""
        assert prepared.mcp is not None and prepared.spec is not None
        items = await prepared.mcp.prelude()
        prepared.builder.prelude = items
        tools = list(prepared.toolbox.tools.values()) if prepared.toolbox is not None else []
        toolbox = ToolBox([*tools, *prepared.mcp.tools])
        prepared.builder.mcp_tools = {tool.name: tool for tool in prepared.mcp.tools}
        prepared.toolbox = toolbox if toolbox else None
        spec = prepared.spec
        prepared.turn = await asyncio.to_thread(lambda: self._prepare_pipeline(spec(items, toolbox), req))

    def _prepare(self, req: CreateResponseRequest, tenant: str) -> PreparedResponse:
        conversation_id = conversation_param(req)
        if conversation_id is None:
            return self._prepare_turn(req, tenant, None)
        lease = self._hold_conversation(conversation_id, tenant)
        try:
            prepared = self._prepare_turn(req, tenant, conversation_id)
        except BaseException:
            lease.release()
            raise
        prepared.conversation = ConversationTurn(conversation_id, lease)
        lease.release_with(prepared)  # a request dropped before it ran must not keep the lock
        return prepared

    def _hold_conversation(self, conversation_id: str, tenant: str) -> Lease:
        if self.conversations is None:
            raise store_unavailable(f"{self.store_error} Conversations are unavailable until it is fixed.")
        if self.conversations.get(conversation_id, tenant) is None:
            raise not_found(f"Conversation with id '{conversation_id}' not found.", param="conversation")
        lease = self._conversation_locks.acquire(tenant, conversation_id)
        if lease is None:  # OpenAI's words and code for the same case
            raise bad_request(
                "Another process is currently operating on this conversation. Please retry in a few seconds.",
                param="conversation",
                code="conversation_locked",
            )
        return lease

    def _prepare_turn(
        self, req: CreateResponseRequest, tenant: str, conversation_id: str | None
    ) -> PreparedResponse:
        if req.store is not False and self._store is None:
            raise store_unavailable(
                f"{self.store_error} Responses can be created with store=false until it is fixed."
            )
        if req.background and req.store is False:
            raise bad_request("A background response must be stored; drop store=false.", param="background")
        check_include(req.include)
        check_metadata(req.metadata)
        if req.prompt is not None:
            raise bad_request(
                "'prompt' is not supported by this server; use previous_response_id or input.", param="prompt"
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
        if conversation_id is not None and self.conversations is not None:
            prior = self.conversations.items(conversation_id, tenant)
        elif req.previous_response_id:
            try:
                prior = self.store.conversation(req.previous_response_id, tenant)
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
        input_items = parse_input(
            req.input, resolve_reference=lambda item_id: self.resolve_reference(item_id, tenant)
        )
        if not input_items and not prior:
            raise bad_request("Missing required parameter: 'input'.", param="input")
        history = prior + input_items
        toolbox = toolbox_for(self.state, req.tools, history)
        mcp = McpTurn.plan(self.state, req.tools, history, input_items)
        params = SamplingParams(
            temperature=1.0 if req.temperature is None else req.temperature,
            top_p=1.0 if req.top_p is None else req.top_p,
            max_tokens=req.max_output_tokens,
            logprobs=_num_top_logprobs(req),
        )

        def spec(extra_items: list[Item], tools: ToolBox | None) -> TurnSpec:
            conv = to_conversation(req, items_to_messages(history + extra_items))
            if tools is not None:
                tools.offer(conv)  # built-ins in the system message, as gpt-oss was trained
            return TurnSpec(
                conv, params, truncation=req.truncation == "auto", clip_max_tokens=True, tenant=tenant
            )

        if mcp is None:
            turn = self._prepare_pipeline(spec([], toolbox), req)
        else:  # the history must be valid before any MCP server hears of the request
            items_to_messages(history)
            turn = None
        response = new_response(req, model_name, conversation_id)
        return PreparedResponse(
            request_id=new_request_id("resp"),
            builder=ResponseEventBuilder(response),
            turn=turn,
            input_items=input_items,
            store=response["store"],
            background=response["background"],
            tenant=tenant,
            toolbox=toolbox,
            mcp=mcp,
            spec=spec,
        )

    def _prepare_pipeline(self, spec: TurnSpec, req: CreateResponseRequest) -> PreparedTurn:
        try:
            return self.state.pipeline.prepare(spec)
        except RenderError as exc:
            message = f"The conversation cannot be rendered for the model: {exc}"
            raise bad_request(message, param="input") from exc
        except ContextOverflow as exc:
            raise _context_error(exc) from exc
        except ConstraintError as exc:
            raise bad_request(str(exc), param=_constraint_param(exc, req.tools)) from exc

    def resolve_reference(self, item_id: str, tenant: str) -> Item | None:
        """The item an `item_reference` names: a stored response's, else a conversation's."""
        item = self._store.get_item(item_id, tenant) if self._store is not None else None
        if item is None and self.conversations is not None:
            item = self.conversations.find_item(item_id, tenant)
        return item

    async def start(self, prepared: PreparedResponse) -> Turn:
        """Submit to the engine; a refused request raises an HTTP error before any byte is sent."""
        try:
            return await self._start_turn(prepared)
        except BaseException:
            if prepared.conversation is not None:
                prepared.conversation.lease.release()
            raise

    async def _start_turn(self, prepared: PreparedResponse) -> Turn:
        assert prepared.turn is not None, "prepare() prepares every turn"
        turn = await start_turn(self.state, prepared.turn, prepared.request_id, PARAMS)
        return with_tools(self.state, prepared.toolbox, turn, prepared.builder)  # the tool loop, if any

    async def run(
        self, prepared: PreparedResponse, turn: Turn, *, is_cancelled: Callable[[], bool] = lambda: False
    ) -> AsyncIterator[StreamEvent]:
        """Stream the response's events, ending with exactly one terminal event."""
        builder = prepared.builder
        started = builder.start()
        if prepared.store and any(item["type"] == "mcp_call" for item in builder.prelude):
            await self._keep_progress(prepared)  # approved calls ran: kept before the client hears of them
        for event in started:
            yield event
        assert prepared.turn is not None
        num_top = prepared.turn.params.logprobs
        table = self._token_table() if num_top is not None else None
        finished: Finished | None = None
        error: dict[str, Any] | None = None
        try:
            async for delta in turn.deltas():
                logprobs = None
                if table is not None and delta.logprobs:
                    logprobs = [logprob_entry(table, lp, num_top or 0) for lp in delta.logprobs]
                events = builder.feed(delta.events, logprobs)
                if prepared.store and ran_a_tool(delta):
                    await self._keep_progress(prepared)  # kept before the client hears of the call
                for event in events:
                    yield event
                finished = delta.finished or finished
        except Exception as exc:  # the engine or decoder broke: the response fails, the server lives
            logger.exception("response %s failed", prepared.response["id"])
            error = {"code": "server_error", "message": f"The model run failed: {exc}"}
        except (GeneratorExit, asyncio.CancelledError):
            # The client left mid-stream: a stored response keeps what was made, as incomplete.
            await self._keep_abandoned(prepared, turn, finished)
            raise
        finally:
            await turn.close()
        usage_body = _usage_body(turn)
        status, incomplete_reason = _terminal_status(finished, error, cancelled=is_cancelled())
        terminal = builder.finish(status, usage=usage_body, incomplete_reason=incomplete_reason, error=error)
        if prepared.store:
            try:
                await self._save(builder.response, prepared.input_items, prepared.tenant)
            except StoreUnavailable as exc:  # the answer exists but cannot be kept: say so, loudly
                logger.error("response %s could not be stored: %s", prepared.response["id"], exc)
                terminal = builder.restate_failed(terminal, storage_error(exc))
        try:
            await self._append_turn(prepared)
        except StoreUnavailable as exc:
            logger.error("response %s could not join its conversation: %s", prepared.response["id"], exc)
            terminal = builder.restate_failed(terminal, storage_error(exc))
        for event in terminal:
            yield event

    async def _keep_abandoned(
        self, prepared: PreparedResponse, turn: Turn, finished: Finished | None
    ) -> None:
        kept = prepared.store or prepared.conversation is not None
        if not kept or prepared.builder.finished:
            return
        done = finished is not None and finished.reason in (FinishReason.STOP, FinishReason.TOOL_CALLS)
        status = "completed" if done else "incomplete"
        prepared.builder.finish(status, usage=_usage_body(turn), incomplete_reason=None)
        # Shielded: the task is being cancelled, and the write must still happen.
        with anyio.CancelScope(shield=True):
            try:
                await turn.close()
                if prepared.store:
                    await self._save(prepared.response, prepared.input_items, prepared.tenant)
                await self._append_turn(prepared)
            except StoreUnavailable as exc:
                logger.error("abandoned response %s could not be stored: %s", prepared.response["id"], exc)

    async def _append_turn(self, prepared: PreparedResponse) -> None:
        """Add the turn's input and output items to its conversation, once, and let the next turn in.

        A failed response adds nothing: its turn did not happen, and the client may send it again.
        """
        conversation = prepared.conversation
        if conversation is None or conversation.appended:
            return
        conversation.appended = True
        try:
            if prepared.response["status"] != "failed" and self.conversations is not None:
                items = [*prepared.input_items, *prepared.response["output"]]
                await asyncio.to_thread(
                    self.conversations.append, conversation.id, prepared.tenant, copy.deepcopy(items)
                )
        finally:
            conversation.lease.release()

    async def _keep_progress(self, prepared: PreparedResponse) -> None:
        """Store a response mid-loop after each tool call: a server that dies before the end keeps
        every call and output made so far (the restarted server marks the response failed)."""
        try:
            await self._save(prepared.response, prepared.input_items, prepared.tenant)
        except StoreUnavailable as exc:
            logger.error("response %s: progress could not be stored: %s", prepared.response["id"], exc)

    def _token_table(self) -> TokenTable:
        if self._table is None:
            self._table = token_table()
        return self._table

    async def create(self, prepared: PreparedResponse) -> dict[str, Any]:
        """Run a foreground request to its end and return the terminal event's response."""
        turn = await self.start(prepared)
        async for _ in self.run(prepared, turn):
            pass
        return prepared.response

    # -- background ---------------------------------------------------------------------------

    async def _save(self, response: dict[str, Any], input_items: list[Item] | None, tenant: str) -> None:
        # A durable commit waits for an fsync: off the event loop, so other streams keep flowing.
        await asyncio.to_thread(self.store.save, copy.deepcopy(response), input_items, tenant)

    async def start_background(self, prepared: PreparedResponse) -> BackgroundRun:
        run = BackgroundRun(prepared)
        # Queued: visible to GET at once. A store that cannot take it refuses the request here.
        try:
            await self._save(prepared.response, prepared.input_items, prepared.tenant)
        except BaseException:
            if prepared.conversation is not None:
                prepared.conversation.lease.release()
            raise
        self._runs[prepared.response["id"]] = run
        run.task = asyncio.create_task(self._drive(run), name=f"response {prepared.response['id']}")
        return run

    async def _drive(self, run: BackgroundRun) -> None:
        prepared = run.prepared
        try:
            try:
                turn = await self.start(prepared)
            except APIError as exc:
                for event in prepared.builder.start():
                    run.push(event)
                code = "rate_limit_exceeded" if exc.status == 429 else "invalid_prompt"
                error = {"code": code, "message": exc.message}
                for event in prepared.builder.finish("failed", usage=None, error=error):
                    run.push(event)
                await self._save_quietly(prepared)
                return
            run.turn = turn
            if run.cancel_requested:  # cancelled while it waited for its first token
                await turn.cancel()
            async for event in self.run(prepared, turn, is_cancelled=lambda: run.cancel_requested):
                run.push(event)
        except asyncio.CancelledError:
            if not prepared.builder.finished:
                for event in prepared.builder.finish("cancelled", usage=None):
                    run.push(event)
                await self._save_quietly(prepared)
        finally:
            if prepared.conversation is not None:
                prepared.conversation.lease.release()
            run.close()
            self._runs.pop(prepared.response["id"], None)

    async def _save_quietly(self, prepared: PreparedResponse) -> None:
        """A last write of a background response nobody awaits: a failure can only be logged."""
        try:
            await self._save(prepared.response, None, prepared.tenant)
            await self._append_turn(prepared)
        except StoreUnavailable as exc:
            logger.error("background response %s could not be stored: %s", prepared.response["id"], exc)

    def live_run(self, response_id: str, tenant: str = "") -> BackgroundRun | None:
        run = self._runs.get(response_id)
        return run if run is not None and run.prepared.tenant == tenant else None

    async def cancel(self, response_id: str, tenant: str = "") -> dict[str, Any]:
        run = self.live_run(response_id, tenant)
        if run is None:
            response = self.retrieve(response_id, tenant)
            if not response.get("background"):
                raise bad_request("Only background responses can be cancelled.", param="response_id")
            if response["status"] == "cancelled":
                return response  # cancelling twice is harmless
            raise bad_request(f"Cannot cancel a response whose status is '{response['status']}'.")
        run.cancel_requested = True
        if run.turn is not None:
            await run.turn.cancel()
        else:  # still queued or in prefill: abort it in the engine, by id
            await self.state.engine.abort(run.prepared.request_id)
        assert run.task is not None
        done, _ = await asyncio.wait({run.task}, timeout=CANCEL_GRACE_S)
        if not done:  # the engine did not end the stream: stop following it
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
        return copy.deepcopy(run.prepared.response)

    # -- read and delete ----------------------------------------------------------------------

    def retrieve(self, response_id: str, tenant: str = "") -> dict[str, Any]:
        run = self.live_run(response_id, tenant)
        if run is not None:
            return run.snapshot()
        response = self.store.get(response_id, tenant)
        if response is None:
            raise not_found(f"Response with id '{response_id}' not found.", param="response_id")
        return response

    async def delete(self, response_id: str, tenant: str = "") -> None:
        run = self.live_run(response_id, tenant)
        if run is not None and run.task is not None:
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
        if not self.store.delete(response_id, tenant):
            raise not_found(f"Response with id '{response_id}' not found.", param="response_id")

    def input_items(
        self,
        response_id: str,
        *,
        tenant: str = "",
        limit: int,
        order: str,
        after: str | None,
        before: str | None,
    ) -> tuple[list[Item], bool]:
        if self.store.get(response_id, tenant) is None:
            raise not_found(f"Response with id '{response_id}' not found.", param="response_id")
        return self.store.input_items(
            response_id, tenant=tenant, limit=limit, order=order, after=after, before=before
        )

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


def _usage_body(turn: Turn) -> dict[str, Any]:
    usage = turn.usage
    return Usage.of(
        input_tokens=usage.prompt_tokens,
        cached_tokens=usage.cached_tokens,
        output_tokens=usage.completion_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    ).model_dump()


def store_unavailable(message: str) -> APIError:
    return APIError(503, message, "server_error", None, "store_unavailable")


def storage_error(exc: StoreUnavailable) -> dict[str, str]:
    """The `error` of a response that was made but could not be kept."""
    code = "storage_full" if exc.full else "storage_unavailable"
    return {"code": code, "message": f"{exc} The answer was generated but could not be stored."}


def _context_error(exc: ContextOverflow) -> APIError:
    limit = exc.max_context_length
    if exc.truncated:
        message = (
            f"The input is {exc.num_prompt_tokens} tokens even with truncation 'auto' (only the last turn "
            f"and the instructions left); the model's context holds {limit}."
        )
    else:
        message = (
            f"The input is {exc.num_prompt_tokens} tokens but the model's context holds {limit}. "
            "Shorten the input or set truncation to 'auto' to drop the oldest turns."
        )
    return bad_request(message, param="input", code="context_length_exceeded")


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


def _constraint_param(exc: ConstraintError, raw_tools: list[dict[str, Any]] | None) -> str:
    """The request field a ConstraintError is about: the format, or the tool's own index in `tools`."""
    if exc.target != "tool" or exc.tool_index is None:
        return "text.format.schema"
    functions = [i for i, tool in enumerate(raw_tools or []) if tool.get("type") == "function"]
    index = functions[exc.tool_index] if exc.tool_index < len(functions) else exc.tool_index
    return f"tools[{index}].parameters"
