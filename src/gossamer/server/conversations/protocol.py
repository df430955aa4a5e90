"""Pydantic types at the HTTP edge of the Conversations API, in the order of OpenAI's reference.

Items stay raw dicts here: `responses/items.py` normalizes them with a 400 that names the bad one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gossamer.server.responses.protocol import InputItemList

MAX_ITEMS_PER_CALL = 20  # OpenAI's limit on items added by one create call


class CreateConversationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, str] | None = None
    items: list[Any] | None = Field(default=None, max_length=MAX_ITEMS_PER_CALL)


class UpdateConversationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, str] | None  # required; it replaces the conversation's metadata whole


class CreateItemsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[Any] = Field(min_length=1, max_length=MAX_ITEMS_PER_CALL)


class ConversationObject(BaseModel):
    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: dict[str, str]


class DeletedConversation(BaseModel):
    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool = True


class ConversationItemList(InputItemList):
    """A page of items (the Responses input-item list's shape); null ids on an empty page."""

    @classmethod
    def of(cls, items: list[dict[str, Any]], has_more: bool = False) -> ConversationItemList:
        first_id = items[0]["id"] if items else None
        last_id = items[-1]["id"] if items else None
        return cls(data=items, first_id=first_id, last_id=last_id, has_more=has_more)


class ListedConversation(ConversationObject):
    """A conversation in the listing extension: also when it last changed (seconds, fractional)."""

    updated_at: float


class ConversationList(BaseModel):
    """GET /v1/conversations, Gossamer's extension: OpenAI's API has no route listing conversations."""

    object: Literal["list"] = "list"
    data: list[ListedConversation]
    first_id: str | None
    last_id: str | None
    has_more: bool
