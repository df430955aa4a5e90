"""POST /tokenize and /detokenize, shaped like vLLM's.

A chat request (`messages`, `tools`, ...) tokenizes to the exact harmony prompt the chat route would
run, prefill included; a `prompt` tokenizes as raw text the way /v1/completions reads it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from gossamer.harmony.tokenizer import VOCAB_SIZE, token_table
from gossamer.server.body import parse_body, request_body
from gossamer.server.chat.protocol import ChatCompletionRequest
from gossamer.server.chat.serving import render_prompt
from gossamer.server.detokenizer import IncrementalDetokenizer, token_string
from gossamer.server.errors import invalid_param
from gossamer.server.state import ServerState, get_state, require_model

router = APIRouter()


class CompletionTokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    prompt: str
    add_special_tokens: bool = True
    return_token_strs: bool = False


class ChatTokenizeRequest(ChatCompletionRequest):
    model: str | None = None  # type: ignore[assignment]
    add_generation_prompt: bool = True
    return_token_strs: bool = False


class DetokenizeRequest(BaseModel):
    model: str | None = None
    tokens: list[int]


@router.post("/tokenize", openapi_extra=request_body(ChatTokenizeRequest, CompletionTokenizeRequest))
async def tokenize(request: Request) -> dict[str, Any]:
    body = await parse_body(request, ChatTokenizeRequest | CompletionTokenizeRequest, items="messages")
    state = get_state(request)
    if body.model is not None:
        require_model(state, body.model)
    tenant = state.tenant(request)
    # Rendering and encoding grow with the request: in a worker thread, off the event loop.
    return await asyncio.to_thread(_tokenize, state, body, tenant)


def _tokenize(state: ServerState, body: ChatTokenizeRequest | CompletionTokenizeRequest, tenant: str) -> dict:
    if isinstance(body, ChatTokenizeRequest):
        rendered = render_prompt(state, body, tenant)
        ids = list(rendered.prompt_ids)
        if not body.add_generation_prompt and rendered.prefill_ids:
            # Without the opening of the assistant's reply (`<|start|>assistant`, forced call header).
            ids = ids[: len(ids) - len(rendered.prefill_ids)]
    else:
        ids = state.pipeline.encode(body.prompt)
    answer: dict[str, Any] = {"count": len(ids), "max_model_len": state.max_context_length, "tokens": ids}
    if body.return_token_strs:
        table = token_table()
        answer["token_strs"] = [token_string(table, t) for t in ids]
    return answer


@router.post("/detokenize", openapi_extra=request_body(DetokenizeRequest))
async def detokenize(request: Request) -> dict[str, Any]:
    body = await parse_body(request, DetokenizeRequest)
    state = get_state(request)
    if body.model is not None:
        require_model(state, body.model)
    bad = next((t for t in body.tokens if not 0 <= t < VOCAB_SIZE), None)
    if bad is not None:
        raise invalid_param(f"Token id {bad} is outside the vocabulary [0, {VOCAB_SIZE}).", "tokens")
    return {"prompt": await asyncio.to_thread(_detokenize, body.tokens)}


def _detokenize(token_ids: list[int]) -> str:
    detok = IncrementalDetokenizer()
    return detok.push(token_ids) + detok.flush()
