"""HTTP routes of the Ollama-native API: parse, hand to serving/models, frame NDJSON. Nothing else.

Errors use Ollama's shape, `{"error": "..."}`, which its clients turn into ResponseError; a failure
after a stream started is sent as a last `{"error": ...}` line, as Ollama does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

import gossamer
from gossamer.server.body import parse_body, request_body
from gossamer.server.errors import APIError, json_problem
from gossamer.server.generation import run_unless_disconnected
from gossamer.server.ollama import models, serving
from gossamer.server.ollama.convert import OllamaError
from gossamer.server.ollama.protocol import ChatRequest, GenerateRequest, ModelRequest, PullRequest
from gossamer.server.state import ServerState

logger = logging.getLogger(__name__)

router = APIRouter(tags=["ollama"])

M = TypeVar("M", bound=BaseModel)


def _state(request: Request) -> ServerState:
    return request.app.state.server_state


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _parse(request: Request, model: type[M], *, items: str | None = None) -> M:
    """The body as `model`, parsed off the event loop; every refusal in Ollama's shape."""
    try:
        return await parse_body(request, model, items=items, empty=b"{}")
    except RequestValidationError as exc:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            raise OllamaError(400, json_problem(str(first["msg"]))) from exc
        where = ".".join(str(p) for p in first["loc"][1:]) or "body"
        raise OllamaError(400, f"invalid request: {where}: {first['msg']}") from exc
    except APIError as exc:
        raise OllamaError(exc.status, exc.message) from exc


def _ndjson(line: dict[str, Any]) -> bytes:
    return (json.dumps(line, ensure_ascii=False) + "\n").encode()


async def _respond(
    request: Request,
    chunks: AsyncIterator[dict[str, Any]],
    stream: bool,
    fold: Callable[[list[dict[str, Any]]], dict[str, Any]],
) -> Response:
    if not stream:

        async def collect() -> list[dict[str, Any]]:
            async with aclosing(chunks):
                return [chunk async for chunk in chunks]

        # A client that hangs up while waiting cancels the work (and the engine request) too.
        try:
            collected = await run_unless_disconnected(request, asyncio.ensure_future(collect()))
        except APIError as exc:  # 499: nobody is left to read the answer
            return _error(exc.status, exc.message)
        return JSONResponse(fold(collected)) if collected else _error(500, "no output")

    # Pull the first chunk before answering so that errors found up front get a real status code.
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        return _error(500, "no output")

    async def lines() -> AsyncIterator[bytes]:
        try:
            yield _ndjson(first)
            async for chunk in chunks:
                yield _ndjson(chunk)
        except OllamaError as exc:
            yield _ndjson({"error": exc.message})
        except Exception:
            logger.exception("ollama stream failed")
            yield _ndjson({"error": "internal server error"})
        finally:
            await chunks.aclose()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _handled(route: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def wrapper(request: Request) -> Response:
        try:
            return await route(request)
        except OllamaError as exc:
            return _error(exc.status, exc.message)

    wrapper.__name__ = route.__name__
    wrapper.__doc__ = route.__doc__
    return wrapper


@router.post("/api/chat", openapi_extra=request_body(ChatRequest))
@_handled
async def chat(request: Request) -> Response:
    body = await _parse(request, ChatRequest, items="messages")
    state = _state(request)
    chunks = serving.chat(state, body, state.tenant(request))
    return await _respond(request, chunks, body.stream, serving.fold_chat)


@router.post("/api/generate", openapi_extra=request_body(GenerateRequest))
@_handled
async def generate(request: Request) -> Response:
    body = await _parse(request, GenerateRequest)
    state = _state(request)
    chunks = serving.generate(state, body, state.tenant(request))
    return await _respond(request, chunks, body.stream, serving.fold_generate)


@router.get("/api/tags")
@_handled
async def tags(request: Request) -> Response:
    return JSONResponse(models.tags(_state(request)))


def _required_name(body: ModelRequest) -> str:
    if not body.model_name:
        raise OllamaError(400, "model is required")
    return body.model_name


@router.post("/api/show", openapi_extra=request_body(ModelRequest))
@_handled
async def show(request: Request) -> Response:
    name = _required_name(await _parse(request, ModelRequest))
    return JSONResponse(models.show(_state(request), name))


@router.get("/api/ps")
@_handled
async def ps(request: Request) -> Response:
    return JSONResponse(models.ps(_state(request)))


@router.post("/api/pull", openapi_extra=request_body(PullRequest))
@_handled
async def pull(request: Request) -> Response:
    body = await _parse(request, PullRequest)
    name = _required_name(body)
    models.check_local_paths(_state(request), name)
    return await _respond(request, models.pull(name), body.stream, lambda chunks: chunks[-1])


@router.delete("/api/delete", openapi_extra=request_body(ModelRequest))
@_handled
async def delete(request: Request) -> Response:
    name = _required_name(await _parse(request, ModelRequest))
    models.check_local_paths(_state(request), name)
    models.delete(name)
    return Response(status_code=200)


@router.get("/api/version")
async def version() -> dict[str, str]:
    return {"version": gossamer.__version__}


_UNSUPPORTED = {
    "/api/embed": "embeddings (gpt-oss is not an embedding model)",
    "/api/embeddings": "embeddings (gpt-oss is not an embedding model)",
    "/api/create": "creating models from a Modelfile (use `gossamer pull` with a directory)",
    "/api/copy": "copying models",
    "/api/push": "pushing models",
}


def _unsupported(what: str) -> Callable[[], Awaitable[Response]]:
    async def route() -> Response:
        return _error(501, f"gossamer does not support {what}")

    return route


for _path, _what in _UNSUPPORTED.items():
    # Ollama's shape rather than a bare 404, so that its clients say what is missing.
    router.add_api_route(_path, _unsupported(_what), methods=["POST"], include_in_schema=False)
