"""The Completions route."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gossamer.server.body import parse_body, request_body
from gossamer.server.completions.protocol import CompletionRequest
from gossamer.server.completions.serving import create_completion
from gossamer.server.state import get_state

router = APIRouter()


@router.post("/v1/completions", openapi_extra=request_body(CompletionRequest))
async def completions(request: Request) -> Response:
    body = await parse_body(request, CompletionRequest)
    return await create_completion(get_state(request), body, request)
