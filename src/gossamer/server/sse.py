"""Server-sent events as OpenAI streams them: `data: <json>\n\n` frames, ending in `data: [DONE]`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from gossamer.engine.protocol import EngineUnavailable
from gossamer.server.errors import error_body

logger = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"


def sse_data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def sse_event(event: str, payload: dict[str, Any]) -> bytes:
    """A named event (the Responses API streams these)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event}\ndata: {body}\n\n".encode()


async def openai_stream(frames: AsyncGenerator[bytes, None], what: str) -> AsyncIterator[bytes]:
    """`frames`, then [DONE]. Once the headers are out a failure can only be reported in-band, as
    OpenAI does: an error frame, then [DONE]. `frames` is closed in every case, so its own cleanup
    (closing the generation) runs when the client goes away too."""
    try:
        async for frame in frames:
            yield frame
        yield DONE
    except (asyncio.CancelledError, GeneratorExit):
        raise
    except EngineUnavailable as exc:  # an upstream went away mid-answer: its message is for the client
        logger.warning("%s failed: %s", what, exc)
        yield sse_data(error_body(str(exc), "server_error", None, "engine_unavailable"))
        yield DONE
    except Exception:
        logger.exception("%s failed", what)
        yield sse_data(error_body("The server failed while generating.", "server_error"))
        yield DONE
    finally:
        await frames.aclose()


def sse_response(frames: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> StreamingResponse:
    # No proxy buffering: a reverse proxy holding chunks back defeats streaming.
    base = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames, media_type="text/event-stream", headers={**base, **(headers or {})})
