"""One streamed request to an upstream: its server-sent events as dicts, every failure an UpstreamError.

Leaving the iteration early (the client went away, an abort) closes the HTTP stream, and an
upstream that sees its stream closed aborts the request: vLLM, SGLang and Gossamer all do.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from gossamer.upstream.adapter import UpstreamError, error_message


async def stream_events(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> AsyncIterator[dict[str, Any]]:
    """The events up to `data: [DONE]`; a stream that ends without it just ends (the caller checks)."""
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                raw = await response.aread()
                try:
                    payload: Any = json.loads(raw)
                except ValueError:
                    payload = raw.decode(errors="replace")
                message = error_message(payload, str(payload)[:300] or response.reason_phrase)
                raise UpstreamError(message, status=response.status_code)
            done = False
            async for line in response.aiter_lines():
                if done or not line.startswith("data:"):
                    continue  # blank separators, `event:` names, comments; after [DONE], the body's end
                data = line[5:].strip()
                if data == "[DONE]":
                    # Read on to the end of the body (it ends right after): a connection whose response
                    # was read whole goes back to the pool, so the next request skips a TCP handshake.
                    done = True
                    continue
                try:
                    event = json.loads(data)
                except ValueError as exc:
                    raise UpstreamError(
                        f"a malformed event: {data[:200]!r}", status=502, kind="protocol"
                    ) from exc
                if isinstance(event, dict):
                    yield event
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise UpstreamError(
            f"cannot connect ({type(exc).__name__})", connection=True, kind="connect"
        ) from exc
    except httpx.TimeoutException as exc:
        raise UpstreamError(f"no answer in time ({type(exc).__name__})", kind="timeout") from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError) as exc:
        raise UpstreamError(f"the connection broke ({type(exc).__name__})", connection=True) from exc
