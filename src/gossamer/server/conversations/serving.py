"""The Conversations API's logic: conversations and their items, per tenant, in the durable store.

Items are normalized exactly as Responses input items are (`responses/items.py`), so what a client
adds here and what a response appends have one shape, and both go back to the model as the next
response's context. Store calls are short SQLite statements; they run in a worker thread all the
same, because a durable commit waits for an fsync.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gossamer.server.conversations.store import ConversationRow, ConversationStore, UnknownCursor
from gossamer.server.errors import APIError
from gossamer.server.responses.errors import not_found
from gossamer.server.responses.items import Item, new_id, parse_item
from gossamer.server.responses.request import check_metadata
from gossamer.server.responses.serving import ResponsesService, store_unavailable


class ConversationsService:
    """Conversations over the Responses service's store (one SQLite file, one connection)."""

    def __init__(self, responses: ResponsesService) -> None:
        self.responses = responses

    @property
    def store(self) -> ConversationStore:
        store = self.responses.conversations
        if store is None:
            message = self.responses.store_error or "The conversation store is not open."
            raise store_unavailable(f"{message} Conversations are unavailable until it is fixed.")
        return store

    # -- conversations --------------------------------------------------------------------------

    async def create(
        self, tenant: str, metadata: dict[str, str] | None, raw_items: list[Any] | None
    ) -> ConversationRow:
        check_metadata(metadata)
        items = self._items(raw_items or [], tenant, "items")
        conversation_id = new_id("conv")
        await asyncio.to_thread(self.store.create, conversation_id, tenant, metadata or {}, items)
        return self.retrieve(conversation_id, tenant)

    def retrieve(self, conversation_id: str, tenant: str) -> ConversationRow:
        row = self.store.get(conversation_id, tenant)
        if row is None:
            raise _conversation_not_found(conversation_id)
        return row

    async def update(
        self, conversation_id: str, tenant: str, metadata: dict[str, str] | None
    ) -> ConversationRow:
        check_metadata(metadata)
        row = await asyncio.to_thread(self.store.update, conversation_id, tenant, metadata or {})
        if row is None:
            raise _conversation_not_found(conversation_id)
        return row

    async def delete(self, conversation_id: str, tenant: str) -> None:
        if not await asyncio.to_thread(self.store.delete, conversation_id, tenant):
            raise _conversation_not_found(conversation_id)

    def list(
        self, tenant: str, *, limit: int, after: str | None, search: str | None
    ) -> tuple[list[ConversationRow], bool]:
        try:
            return self.store.list(tenant, limit=limit, after=after, search=search)
        except UnknownCursor as exc:
            raise _conversation_not_found(str(exc.args[0]), param="after") from exc

    # -- items ----------------------------------------------------------------------------------

    async def add_items(self, conversation_id: str, tenant: str, raw_items: list[Any]) -> list[Item]:
        self.retrieve(conversation_id, tenant)
        items = self._items(raw_items, tenant, "items")
        await asyncio.to_thread(self.store.append, conversation_id, tenant, items)
        return items

    def items(
        self, conversation_id: str, tenant: str, *, limit: int, order: str, after: str | None
    ) -> tuple[list[Item], bool]:
        self.retrieve(conversation_id, tenant)
        try:
            return self.store.page(conversation_id, tenant, limit=limit, order=order, after=after)
        except UnknownCursor as exc:
            raise _item_not_found(str(exc.args[0]), param="after") from exc

    def item(self, conversation_id: str, tenant: str, item_id: str) -> Item:
        self.retrieve(conversation_id, tenant)
        item = self.store.get_item(conversation_id, tenant, item_id)
        if item is None:
            raise _item_not_found(item_id)
        return item

    async def delete_item(self, conversation_id: str, tenant: str, item_id: str) -> ConversationRow:
        self.retrieve(conversation_id, tenant)
        if not await asyncio.to_thread(self.store.delete_item, conversation_id, tenant, item_id):
            raise _item_not_found(item_id)
        return self.retrieve(conversation_id, tenant)

    def _items(self, raw_items: list[Any], tenant: str, param: str) -> list[Item]:
        items = []
        for index, entry in enumerate(raw_items):
            entry_param = f"{param}[{index}]"
            if not isinstance(entry, dict):
                message = f"{entry_param} must be an object, got {type(entry).__name__}."
                raise APIError(400, message, "invalid_request_error", entry_param)
            resolve = lambda item_id: self.responses.resolve_reference(item_id, tenant)  # noqa: E731
            items.append(parse_item(entry, param=entry_param, resolve_reference=resolve))
        return items


def _conversation_not_found(conversation_id: str, *, param: str = "conversation_id") -> APIError:
    return not_found(f"Conversation with id '{conversation_id}' not found.", param=param)


def _item_not_found(item_id: str, *, param: str = "item_id") -> APIError:
    return not_found(f"Item with id '{item_id}' not found.", param=param)
