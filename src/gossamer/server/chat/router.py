"""The Chat Completions route: validation by pydantic, logic in serving."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gossamer.server.body import parse_body, request_body
from gossamer.server.chat.protocol import ChatCompletionRequest
from gossamer.server.chat.serving import create_chat_completion
from gossamer.server.state import get_state

router = APIRouter()


@router.post("/v1/chat/completions", openapi_extra=request_body(ChatCompletionRequest))
async def chat_completions(request: Request) -> Response:
    body = await parse_body(request, ChatCompletionRequest, items="messages")
    return await create_chat_completion(get_state(request), body, request)
