"""Server-sent events as OpenAI streams them: `data: <json>\n\n` frames, ending in `data: [DONE]`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

DONE = b"data: [DONE]\n\n"


def sse_data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def sse_event(event: str, payload: dict[str, Any]) -> bytes:
    """A named event (the Responses API streams these)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event}\ndata: {body}\n\n".encode()


def sse_response(frames: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> StreamingResponse:
    # No proxy buffering: a reverse proxy holding chunks back defeats streaming.
    base = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames, media_type="text/event-stream", headers={**base, **(headers or {})})
