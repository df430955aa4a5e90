"""Shorthands for the OpenAI-shaped errors the Responses API raises (the server's `APIError`)."""

from __future__ import annotations

from gossamer.server.errors import APIError


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, "invalid_request_error", param, code)


def not_found(message: str, *, param: str | None = None, code: str = "not_found") -> APIError:
    return APIError(404, message, "invalid_request_error", param, code)
