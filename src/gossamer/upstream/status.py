"""GET /upstreams: each upstream's state, what it is and the load on it, for operators and scripts."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from gossamer.server.errors import APIError
from gossamer.server.state import get_state
from gossamer.upstream.engine import RemoteEngine

router = APIRouter()


@router.get("/upstreams")
async def upstreams(request: Request) -> dict[str, Any]:
    engine = get_state(request).engine
    if not isinstance(engine, RemoteEngine):
        raise APIError(404, "This server runs its model itself; it has no upstreams.", code="no_upstreams")
    now = time.monotonic()
    return {
        "model": engine.model,
        "max_model_len": engine.max_context_length,
        "upstreams": [
            {
                "url": r.spec.url,
                "kind": r.identity.kind if r.identity else r.spec.kind,
                "state": r.state.value,
                "reason": r.reason,
                "for_s": round(now - r.since_s, 3),
                "model": r.identity.model if r.identity else None,
                "max_model_len": r.identity.max_model_len if r.identity else None,
                "in_flight": r.num_in_flight,
                "outstanding_tokens": r.outstanding_tokens,
            }
            for r in engine.replicas
        ],
    }
