"""HTTP routes of the Responses API: validate, hand to the service, frame SSE. Nothing else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from gossamer.server.body import parse_body, request_body
from gossamer.server.conversations.store import ConversationStore
from gossamer.server.errors import APIError
from gossamer.server.generation import run_unless_disconnected
from gossamer.server.responses.protocol import CreateResponseRequest, DeletedResponse, InputItemList
from gossamer.server.responses.serving import ResponsesService
from gossamer.server.responses.store import ResponseStore, StoreUnavailable
from gossamer.server.sse import sse_event, sse_response
from gossamer.server.state import ServerState, get_state

logger = logging.getLogger(__name__)

router = APIRouter(tags=["responses"])


def open_service(app: FastAPI) -> ResponsesService:
    """The app's service, made once from its ServerState (the app's start-up opens it).

    A store that cannot be opened (a read-only or full state folder) is said loudly once, and the
    server keeps serving: store=false responses and every other API work, stored ones get a 503.
    """
    service: ResponsesService | None = getattr(app.state, "responses_service", None)
    if service is None:
        state: ServerState = app.state.server_state
        # A `responses_store` setting wins when the server's settings have one; otherwise the
        # store follows $GOSSAMER_RESPONSES_STORE or lives in gossamer's data directory.
        try:
            store = ResponseStore(state.settings.responses_store)
            service = ResponsesService(state, store, conversations=ConversationStore(store))
        except StoreUnavailable as exc:
            logger.error("%s Stored responses are off: store=true answers 503 until it is fixed.", exc)
            service = ResponsesService(state, None, store_error=str(exc))
        app.state.responses_service = service
    return service


def responses_service(request: Request) -> ResponsesService:
    return open_service(request.app)


def startup(app: FastAPI) -> None:
    """Run by the app's lifespan: a store problem shows at start, not at the first request."""
    open_service(app)


async def _frames(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for event in events:
        yield sse_event(event["type"], event)


def _event_stream(events: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    return sse_response(_frames(events))


@router.post("/v1/responses", openapi_extra=request_body(CreateResponseRequest))
async def create_response(request: Request) -> Any:
    body = await parse_body(request, CreateResponseRequest, items="input")
    service = responses_service(request)
    state = get_state(request)
    prepared = await service.prepare(body, state.tenant(request))
    if prepared.background:
        run = await service.start_background(prepared)
        if body.stream:
            return _event_stream(run.follow())
        return service.retrieve(prepared.response["id"])
    turn = await service.start(prepared)
    if body.stream:
        return _event_stream(service.run(prepared, turn))

    async def collect() -> dict[str, Any]:
        async for _ in service.run(prepared, turn):
            pass
        return prepared.response

    response = await run_unless_disconnected(request, asyncio.ensure_future(collect()))
    if response["status"] == "failed":
        code = response["error"]["code"]
        status = {"storage_full": 507, "storage_unavailable": 503}.get(code, 500)
        raise APIError(status, response["error"]["message"], "server_error", code=code)
    return response


@router.get("/v1/responses/{response_id}")
async def retrieve_response(
    response_id: str,
    request: Request,
    stream: bool = False,
    starting_after: int | None = None,
    include: list[str] | None = Query(default=None),  # noqa: B008 - FastAPI's idiom for list queries
) -> Any:
    service = responses_service(request)
    tenant = get_state(request).tenant(request)
    if stream:
        run = service.live_run(response_id, tenant)
        if run is None:
            service.retrieve(response_id, tenant)  # 404 when unknown
            raise APIError(
                400, "stream=true works only while a background response is running.", param="stream"
            )
        return _event_stream(run.follow(starting_after))
    return service.retrieve(response_id, tenant)


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: str, request: Request) -> DeletedResponse:
    await responses_service(request).delete(response_id, get_state(request).tenant(request))
    return DeletedResponse(id=response_id)


@router.post("/v1/responses/{response_id}/cancel")
async def cancel_response(response_id: str, request: Request) -> Any:
    return await responses_service(request).cancel(response_id, get_state(request).tenant(request))


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    request: Request,
    limit: int = Query(default=20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
    before: str | None = None,
    include: list[str] | None = Query(default=None),  # noqa: B008
) -> InputItemList:
    tenant = get_state(request).tenant(request)
    items, has_more = responses_service(request).input_items(
        response_id, tenant=tenant, limit=limit, order=order, after=after, before=before
    )
    return InputItemList(
        data=items,
        first_id=items[0]["id"] if items else None,
        last_id=items[-1]["id"] if items else None,
        has_more=has_more,
    )
