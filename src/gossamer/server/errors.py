"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` with the right HTTP status.

Every route raises `APIError` (or lets the engine's `RequestRejected` / `QueueFull` escape); the
handlers installed by `install_error_handlers` turn them, and FastAPI's own validation and JSON
errors, into that shape so that bad input never surfaces as a 500 with a stack trace.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gossamer.engine.protocol import QueueFull, RequestRejected
from gossamer.turn.errors import ContextOverflow

logger = logging.getLogger(__name__)

# OpenAI's error `type` strings by status, for errors raised without an explicit type.
_DEFAULT_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}


class APIError(Exception):
    """An error for the client; the message says what was wrong and, where useful, what to do."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.headers = headers
        self.status = status
        self.message = message
        self.type = type or _DEFAULT_TYPES.get(status, "invalid_request_error")
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def api_error(
    status: int, message: str, type: str | None = None, param: str | None = None, code: str | None = None
) -> JSONResponse:
    """A ready JSON response in OpenAI's error shape (the contract other API packages use)."""
    err = APIError(status, message, type, param, code)
    return JSONResponse(err.body(), status_code=status)


def invalid_param(message: str, param: str | None, code: str | None = None) -> APIError:
    return APIError(400, message, "invalid_request_error", param, code)


def from_engine_error(exc: RequestRejected | QueueFull, params: dict[str, str] | None = None) -> APIError:
    """Map the engine's refusals: a request that can never run is the client's 400, a full queue 429.

    params: the API's parameter for each engine field ("prompt_ids" -> "messages", ...); a sampling
    field missing from it keeps its name, which is also OpenAI's (temperature, top_p, ...).
    """
    if isinstance(exc, QueueFull):
        message = str(exc) or "The server is busy: too many requests are waiting. Retry later."
        return APIError(
            429, message, "rate_limit_exceeded", None, "rate_limit_exceeded", {"Retry-After": "1"}
        )
    code = "context_length_exceeded" if exc.limit is not None else None
    param = (params or {}).get(exc.field, exc.field) if exc.field else None
    return APIError(400, str(exc), "invalid_request_error", param, code)


def from_context_overflow(exc: ContextOverflow, prompt_param: str, output_param: str) -> APIError:
    """A turn that does not fit the context: 400 `context_length_exceeded` at the parameter to change."""
    return APIError(
        400,
        exc.describe(output_param),
        "invalid_request_error",
        prompt_param if exc.prompt_too_long else output_param,
        "context_length_exceeded",
    )


# pydantic puts the union member it tried into `loc` ('str', 'list[...]', 'ChatMessage', ...);
# those are implementation details, not parameter names.
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none", "tuple", "json-or-python"})


def _loc_to_param(loc: tuple[Any, ...]) -> str | None:
    """('body', 'messages', 0, 'content') -> 'messages[0].content' (OpenAI's param notation)."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path"):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TYPE_TAGS or part[:1].isupper() or any(c in part for c in "[-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or None


def json_problem(parser_message: str) -> str:
    """What pydantic's JSON parser refused, in words a client can act on."""
    detail = parser_message.removeprefix("Invalid JSON: ")
    if "recursion limit" in detail:
        return f"The request body nests deeper than this server reads ({detail})."
    if "hex escape" in detail or "surrogate" in detail:
        return f"The request body holds a lone UTF-16 surrogate escape such as \\ud800 ({detail})."
    return f"The request body is not valid JSON ({detail})." if detail else "The body is not valid JSON."


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    param = _loc_to_param(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        return json_problem(str(first.get("msg", ""))), None
    if param is None and first.get("type") in ("model_attributes_type", "dict_type", "model_type"):
        return "The request body must be a JSON object.", None
    if first.get("type") == "missing" and param:
        return f"Missing required parameter: '{param}'.", param
    # Errors at the same parameter are the alternatives of one union: say them together.
    same = [e for e in errors if _loc_to_param(tuple(e.get("loc", ()))) == param]
    messages = (str(e.get("msg", "invalid value")).removeprefix("Value error, ") for e in same)
    reasons = list(dict.fromkeys(messages))
    others = len(errors) - len(same)
    more = f" (and {others} more error(s))" if others else ""
    where = f"Invalid value for '{param}': " if param else "Invalid request: "
    return f"{where}{'; or '.join(reasons)}{more}", param


def error_response(request: Request, status: int, body: dict[str, Any], headers=None) -> JSONResponse:
    """An OpenAI-shaped error body, or Ollama's `{"error": message}` on Ollama's routes (/api/...),
    so each API's clients read the message whatever went wrong."""
    if request.url.path.startswith("/api/"):
        body = {"error": body["error"]["message"]}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(request, exc.status, exc.body(), exc.headers)

    @app.exception_handler(RequestRejected)
    async def _rejected(request: Request, exc: RequestRejected) -> JSONResponse:
        err = from_engine_error(exc)
        return error_response(request, err.status, err.body())

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        err = from_engine_error(exc)
        return error_response(request, err.status, err.body(), err.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(request, 400, error_body(message, "invalid_request_error", param))

    @app.exception_handler(json.JSONDecodeError)
    async def _json(request: Request, exc: json.JSONDecodeError) -> JSONResponse:
        body = error_body(f"The request body is not valid JSON: {exc.msg}.", "invalid_request_error")
        return error_response(request, 400, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "Unknown route."
        body = error_body(message, _DEFAULT_TYPES.get(exc.status_code, "invalid_request_error"))
        return error_response(request, exc.status_code, body, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug on our side: log the trace for us, give the client a message without it.
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, error_body("Internal server error.", "server_error"))
