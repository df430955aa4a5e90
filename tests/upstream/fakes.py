"""Small stand-ins for vLLM and SGLang: their documented request and response shapes, nothing more.

vLLM (vllm/entrypoints/openai/completion/protocol.py): `POST /v1/completions` with a prompt of
token ids and `return_token_ids`; streamed chunks carry `token_ids` (the delta), the first also
`prompt_token_ids`, the last `finish_reason` and `stop_reason`, then a `usage` chunk and
`[DONE]`; `ignore_eos` leaves `stop_token_ids` in force; logprob tokens are `token_id:N` with
`return_tokens_as_token_ids`; `logprobs` above the server's max is a 400.
SGLang (docs/basic_usage/sampling_params.md, GenerateReqInput): `POST /generate` with `input_ids`
and `sampling_params`; streamed `{"text", "output_ids", "meta_info"}` events, `output_ids` the whole
output so far unless the server runs with --incremental-streaming-output; `ignore_eos` skips every
stop check; `meta_info.finish_reason` a dict; logprobs as `[logprob, token_id, text]`.

Each fake answers with a scripted harmony reply and records what it was sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from gossamer.harmony.tokenizer import decode_text
from gossamer.testing.scripted_engine import harmony_reply
from tests.server.conftest import free_port
from tests.upstream.fleet import serve_in_thread

MODEL_ID = "openai/gpt-oss-120b"
ANSWER = "Hello from the upstream."
Script = Callable[[list[int]], list[int]]


def default_script(prompt_ids: list[int]) -> list[int]:
    return harmony_reply(reasoning="The user greets me.", final=ANSWER)


@dataclass
class FakeState:
    script: Script = default_script
    received: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # ids of streams the client closed early
    chunk_tokens: int = 2
    delay_s: float = 0.0  # between chunks
    fail_next: int = 0  # answer this many generation requests with 503 before any token
    max_logprobs: int = 5
    return_token_ids: bool = True  # False: an old vLLM that ignores the field
    incremental: bool = False  # SGLang's --incremental-streaming-output
    deterministic: bool = False  # SGLang's --enable-deterministic-inference
    api_key: str | None = None
    cached_tokens: int = 16


def _lp(token_id: int, k: int) -> tuple[float, list[tuple[int, float]]]:
    """Made-up logprobs: the sampled token first, then k - 1 neighbours."""
    return -0.5, [(token_id, -0.5), *((token_id + j, -1.0 - j) for j in range(1, k))]


def _generate(
    state: FakeState, prompt: list[int], max_tokens: int, stops: set[int]
) -> tuple[list[int], str, int | None]:
    out: list[int] = []
    for token in state.script(prompt):
        if len(out) >= max_tokens:
            return out, "length", None
        out.append(token)
        if token in stops:
            return out, "stop", token
    return out, "stop", None  # the script ended: as if the model's EOS was sampled


def _authorized(state: FakeState, request: Request) -> bool:
    return state.api_key is None or request.headers.get("authorization") == f"Bearer {state.api_key}"


async def _sse(
    events: AsyncIterator[dict[str, Any]], state: FakeState, rid: str, request: Request
) -> AsyncIterator[bytes]:
    finished = False
    try:
        async for event in events:
            # vLLM and SGLang abort a request whose client has gone (vLLM checks between outputs).
            if await request.is_disconnected():
                return
            yield b"data: " + json.dumps(event).encode() + b"\n\n"
            if state.delay_s:
                await asyncio.sleep(state.delay_s)
        yield b"data: [DONE]\n\n"
        finished = True
    finally:
        if not finished:
            state.cancelled.append(rid)


def vllm_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    @app.get("/version")
    async def version() -> dict[str, str]:
        return {"version": "0.11.0"}

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        if not _authorized(state, request):
            return JSONResponse({"error": {"message": "Unauthorized"}}, status_code=401)
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "owned_by": "vllm", "max_model_len": 8192}],
        }

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        if not _authorized(state, request):
            return JSONResponse({"error": {"message": "Unauthorized"}}, status_code=401)
        body = await request.json()
        state.received.append(body)
        if body.get("model") != MODEL_ID:
            return JSONResponse(
                {
                    "error": {
                        "message": f"The model `{body.get('model')}` does not exist.",
                        "type": "NotFoundError",
                        "code": 404,
                    }
                },
                status_code=404,
            )
        if (body.get("logprobs") or 0) > state.max_logprobs:
            message = f"Requested sample logprobs of {body['logprobs']}, which is greater than max allowed: 5"
            return JSONResponse(
                {"error": {"message": message, "type": "BadRequestError", "param": "logprobs", "code": 400}},
                status_code=400,
            )
        if body.get("stream") and state.fail_next > 0:
            state.fail_next -= 1
            return JSONResponse({"error": {"message": "engine is dead", "code": 503}}, status_code=503)
        prompt = body["prompt"]
        stops = set(body.get("stop_token_ids") or [])
        if not body.get("ignore_eos"):
            stops |= {200002, 199999, 200012}  # gpt-oss's EOS ids, from its generation config
        out, finish, stop_id = _generate(state, prompt, body.get("max_tokens", 16), stops)
        with_ids = bool(body.get("return_token_ids")) and state.return_token_ids
        k = body.get("logprobs")

        def logprobs(ids: list[int]) -> dict[str, Any] | None:
            if k is None:
                return None
            rows = [_lp(t, k + 1) for t in ids]
            name = (lambda t: f"token_id:{t}") if body.get("return_tokens_as_token_ids") else decode_text_one
            return {
                "tokens": [name(t) for t in ids],
                "token_logprobs": [lp for lp, _ in rows],
                "top_logprobs": [{name(t): v for t, v in top} for _, top in rows],
                "text_offset": list(range(len(ids))),
            }

        if not body.get("stream"):
            choice = {
                "index": 0,
                "text": decode_text(out),
                "logprobs": logprobs(out),
                "finish_reason": finish,
                "stop_reason": stop_id,
            }
            if with_ids:
                choice.update(token_ids=out, prompt_token_ids=prompt)
            return {
                "id": "cmpl-1",
                "object": "text_completion",
                "model": MODEL_ID,
                "choices": [choice],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(out)},
            }

        async def events() -> AsyncIterator[dict[str, Any]]:
            step = state.chunk_tokens
            for i in range(0, max(len(out), 1), step):
                ids = out[i : i + step]
                last = i + step >= len(out)
                choice = {
                    "index": 0,
                    "text": decode_text(ids),
                    "logprobs": logprobs(ids),
                    "finish_reason": finish if last else None,
                    "stop_reason": stop_id if last else None,
                }
                if with_ids:
                    choice["token_ids"] = ids
                    if i == 0:
                        choice["prompt_token_ids"] = prompt
                yield {"id": "cmpl-1", "object": "text_completion", "model": MODEL_ID, "choices": [choice]}
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {
                    "prompt_tokens": len(prompt),
                    "completion_tokens": len(out),
                    "prompt_tokens_details": {"cached_tokens": state.cached_tokens},
                }
                yield {
                    "id": "cmpl-1",
                    "object": "text_completion",
                    "model": MODEL_ID,
                    "choices": [],
                    "usage": usage,
                }

        return StreamingResponse(
            _sse(events(), state, str(len(state.received)), request), media_type="text/event-stream"
        )

    return app


def decode_text_one(token_id: int) -> str:
    return decode_text([token_id])


def sglang_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    @app.get("/get_model_info")
    async def model_info() -> dict[str, Any]:
        return {"model_path": MODEL_ID, "is_generation": True}

    @app.get("/get_server_info")
    async def server_info() -> dict[str, Any]:
        return {
            "model_path": MODEL_ID,
            "context_length": 16384,
            "enable_deterministic_inference": state.deterministic,
            "incremental_streaming_output": state.incremental,
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": MODEL_ID,
                    "object": "model",
                    "owned_by": "sglang",
                    "root": MODEL_ID,
                    "max_model_len": 16384,
                }
            ],
        }

    @app.post("/generate")
    async def generate(request: Request) -> Any:
        body = await request.json()
        state.received.append(body)
        prompt = body["input_ids"]
        sampling = body.get("sampling_params") or {}
        # SGLang's ignore_eos skips every stop check, stop_token_ids included.
        stops = (
            set()
            if sampling.get("ignore_eos")
            else {*(sampling.get("stop_token_ids") or []), 200002, 199999, 200012}
        )
        out, finish, stop_id = _generate(state, prompt, sampling.get("max_new_tokens", 128), stops)
        k = body.get("top_logprobs_num", 0)

        def meta(upto: int, done: bool) -> dict[str, Any]:
            info: dict[str, Any] = {
                "id": body.get("rid", "rid"),
                "prompt_tokens": len(prompt),
                "completion_tokens": upto,
                "cached_tokens": state.cached_tokens,
            }
            info["finish_reason"] = None
            if done:
                info["finish_reason"] = (
                    {"type": "stop", "matched": stop_id}
                    if finish == "stop"
                    else {"type": "length", "length": len(out)}
                )
            if body.get("return_logprob"):
                rows = [_lp(t, k) for t in out[:upto]]
                info["output_token_logprobs"] = [[lp, t, None] for (lp, _), t in zip(rows, out, strict=False)]
                info["output_top_logprobs"] = [[[v, t, None] for t, v in top] for _, top in rows]
            return info

        if not body.get("stream"):
            return {"text": decode_text(out), "output_ids": out, "meta_info": meta(len(out), True)}

        async def events() -> AsyncIterator[dict[str, Any]]:
            for start in range(0, max(len(out), 1), state.chunk_tokens):
                upto = min(start + state.chunk_tokens, len(out))
                info = meta(upto, upto == len(out))
                first = start if state.incremental else 0  # the default stream repeats the whole output
                for key in ("output_token_logprobs", "output_top_logprobs"):
                    if key in info:
                        info[key] = info[key][first:]
                yield {"text": decode_text(out[first:upto]), "output_ids": out[first:upto], "meta_info": info}

        return StreamingResponse(
            _sse(events(), state, body.get("rid", ""), request), media_type="text/event-stream"
        )

    return app


@dataclass
class FakeServer:
    url: str
    state: FakeState
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_fake(app_factory: Callable[[FakeState], FastAPI], state: FakeState | None = None) -> FakeServer:
    state = state or FakeState()
    port = free_port()
    server, thread = serve_in_thread(app_factory(state), port)
    return FakeServer(f"http://127.0.0.1:{port}", state, server, thread)
