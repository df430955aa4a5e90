"""The Chat Completions route: validation by pydantic, logic in serving."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gossamer.server.chat.protocol import ChatCompletionRequest
from gossamer.server.chat.serving import create_chat_completion
from gossamer.server.state import get_state

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    return await create_chat_completion(get_state(request), body, request)
