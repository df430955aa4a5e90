"""The Models routes: the one served model, found under any of the names clients use for it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gossamer.server.state import ServerState, get_state, require_model

router = APIRouter()


def model_card(state: ServerState) -> dict[str, Any]:
    return {
        "id": state.model_name,
        "object": "model",
        "created": state.created,
        "owned_by": "gossamer",
        "max_model_len": state.max_context_length,
    }


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(get_state(request))]}


# `{model_id:path}`: ids like `openai/gpt-oss-20b` contain a slash.
@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> dict[str, Any]:
    state = get_state(request)
    require_model(state, model_id)
    return model_card(state)
