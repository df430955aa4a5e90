"""HTTP routes of the Conversations API, plus the listing extension (GET /v1/conversations)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request

from gossamer.server.body import parse_body, request_body
from gossamer.server.conversations.protocol import (
    ConversationItemList,
    ConversationList,
    ConversationObject,
    CreateConversationRequest,
    CreateItemsRequest,
    DeletedConversation,
    ListedConversation,
    UpdateConversationRequest,
)
from gossamer.server.conversations.serving import ConversationsService
from gossamer.server.conversations.store import ConversationRow
from gossamer.server.responses.items import Item
from gossamer.server.responses.router import open_service
from gossamer.server.state import get_state

router = APIRouter(tags=["conversations"])

_LIST_DESCRIPTION = (
    "Gossamer's extension (OpenAI's API has no such route): the caller's conversations, most recently "
    "active first, each with `updated_at`. `search` keeps those whose title (`metadata.title`) or item "
    "text contains it, ignoring case; `after` is the last id of the previous page."
)


def _service(request: Request) -> tuple[ConversationsService, str]:
    return ConversationsService(open_service(request.app)), get_state(request).tenant(request)


def _object(row: ConversationRow) -> ConversationObject:
    return ConversationObject(id=row.id, created_at=row.created_at, metadata=row.metadata)


@router.post("/v1/conversations", openapi_extra=request_body(CreateConversationRequest))
async def create_conversation(request: Request) -> ConversationObject:
    body = await parse_body(request, CreateConversationRequest, items="items", empty=b"{}")
    service, tenant = _service(request)
    return _object(await service.create(tenant, body.metadata, body.items))


@router.get("/v1/conversations", description=_LIST_DESCRIPTION)
async def list_conversations(
    request: Request,
    limit: int = Query(default=20, ge=1, le=100),
    after: str | None = None,
    search: str | None = Query(default=None, max_length=200),
) -> ConversationList:
    service, tenant = _service(request)
    rows, has_more = service.list(tenant, limit=limit, after=after, search=search)
    data = [ListedConversation(**_object(row).model_dump(), updated_at=row.updated_at) for row in rows]
    return ConversationList(
        data=data,
        first_id=rows[0].id if rows else None,
        last_id=rows[-1].id if rows else None,
        has_more=has_more,
    )


@router.get("/v1/conversations/{conversation_id}")
async def retrieve_conversation(conversation_id: str, request: Request) -> ConversationObject:
    service, tenant = _service(request)
    return _object(service.retrieve(conversation_id, tenant))


@router.post("/v1/conversations/{conversation_id}", openapi_extra=request_body(UpdateConversationRequest))
async def update_conversation(conversation_id: str, request: Request) -> ConversationObject:
    body = await parse_body(request, UpdateConversationRequest)
    service, tenant = _service(request)
    return _object(await service.update(conversation_id, tenant, body.metadata))


@router.delete("/v1/conversations/{conversation_id}")
async def delete_conversation(conversation_id: str, request: Request) -> DeletedConversation:
    service, tenant = _service(request)
    await service.delete(conversation_id, tenant)
    return DeletedConversation(id=conversation_id)


@router.post("/v1/conversations/{conversation_id}/items", openapi_extra=request_body(CreateItemsRequest))
async def create_items(
    conversation_id: str,
    request: Request,
    include: list[str] | None = Query(default=None),  # noqa: B008 - FastAPI's idiom for list queries
) -> ConversationItemList:
    body = await parse_body(request, CreateItemsRequest, items="items")
    service, tenant = _service(request)
    return ConversationItemList.of(await service.add_items(conversation_id, tenant, body.items))


@router.get("/v1/conversations/{conversation_id}/items")
async def list_items(
    conversation_id: str,
    request: Request,
    limit: int = Query(default=20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
    include: list[str] | None = Query(default=None),  # noqa: B008
) -> ConversationItemList:
    service, tenant = _service(request)
    items, has_more = service.items(conversation_id, tenant, limit=limit, order=order, after=after)
    return ConversationItemList.of(items, has_more)


@router.get("/v1/conversations/{conversation_id}/items/{item_id}")
async def retrieve_item(
    conversation_id: str,
    item_id: str,
    request: Request,
    include: list[str] | None = Query(default=None),  # noqa: B008
) -> Item:
    service, tenant = _service(request)
    return service.item(conversation_id, tenant, item_id)


@router.delete("/v1/conversations/{conversation_id}/items/{item_id}")
async def delete_item(conversation_id: str, item_id: str, request: Request) -> ConversationObject:
    service, tenant = _service(request)
    return _object(await service.delete_item(conversation_id, tenant, item_id))
