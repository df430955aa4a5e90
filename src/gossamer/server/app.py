"""The app factory: one FastAPI app over a ServerState, with every API package's router mounted."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.responses import Response

from gossamer import __version__
from gossamer.engine.protocol import EngineUnavailable
from gossamer.grammar.tokenizer import warm_up
from gossamer.server.auth import OPEN_PATHS, APIKeyMiddleware
from gossamer.server.body import install_openapi
from gossamer.server.chat.router import router as chat_router
from gossamer.server.completions.router import router as completions_router
from gossamer.server.errors import error_body, install_error_handlers
from gossamer.server.guard import HostPolicy, RequestGuard
from gossamer.server.models.router import router as models_router
from gossamer.server.request_log import RequestLogMiddleware
from gossamer.server.state import ServerState, get_state
from gossamer.server.tokenize.router import router as tokenize_router

logger = logging.getLogger(__name__)

# Routers of API packages owned elsewhere; each is mounted when its package is present.
OPTIONAL_ROUTERS = (
    "gossamer.server.responses.router",
    "gossamer.server.conversations.router",
    "gossamer.server.webui.router",
    "gossamer.server.ollama.router",
    "gossamer.upstream.status",
)


def _optional_routers() -> list[Any]:
    """The router modules present in this build (each has `router`, maybe `startup(app)`)."""
    modules = []
    for module_name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # that API package is not part of this build
            raise
        modules.append(module)
    return modules


def _log_warm_up_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("building the grammar tokenizer failed: %s", future.exception())


def create_app(state: ServerState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logger.debug("serving %s", state.model_name)  # serve() already said so, with the URL
        start = getattr(state.engine, "start", None)
        if start is not None:  # an engine with work of its own on this loop (upstream health checks)
            start()
        # The grammar tokenizer takes a second or more to build: build it now, beside serving, so the
        # first request with tools or a response format does not wait for it.
        warming = asyncio.get_running_loop().run_in_executor(None, warm_up)
        warming.add_done_callback(_log_warm_up_failure)
        # A render process for large prompts, started now rather than by the first large request.
        asyncio.get_running_loop().run_in_executor(None, state.pipeline.warm)
        for module in optional:  # what an API opens at start (the Responses store)
            if hasattr(module, "startup"):
                module.startup(app)
        yield
        # uvicorn has already let running requests finish (graceful shutdown) when we get here.
        await state.shutdown()

    app = FastAPI(title="Gossamer", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.server_state = state
    state.metrics.watch_engine(state.engine.stats)
    engine_metrics = getattr(state.engine, "metrics", None)  # an engine's own (per upstream), if any
    if callable(getattr(engine_metrics, "collect", None)):
        state.metrics.registry.register(engine_metrics)
    install_error_handlers(app)

    @app.exception_handler(EngineUnavailable)
    async def _unavailable(_: Request, exc: EngineUnavailable) -> JSONResponse:
        # No upstream could take the request: the server's trouble, for now, not the request's.
        body = error_body(str(exc), "server_error", None, "engine_unavailable")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    optional = _optional_routers()
    for router in (chat_router, completions_router, models_router, tokenize_router):
        app.include_router(router)
    for module in optional:
        app.include_router(module.router)

    @app.get("/health")
    async def health(request: Request) -> Any:
        s = get_state(request)
        body = {"status": "ok", "model": s.model_name, "engine": dataclasses.asdict(s.engine.stats())}
        if not getattr(s.engine, "available", True):  # a front whose upstreams are all down
            return JSONResponse({**body, "status": "unavailable"}, status_code=503)
        return body

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        body = get_state(request).metrics.render()
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    install_openapi(app)
    # Middleware runs outermost-last-added: logging sees every response, 401s and CORS included.
    settings = state.settings
    if state.api_keys:
        open_paths = OPEN_PATHS - {"/health", "/metrics"} if settings.protect_health_metrics else OPEN_PATHS
        app.add_middleware(APIKeyMiddleware, api_keys=state.api_keys, open_paths=open_paths)
    if state.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=state.settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            allow_credentials="*" not in state.settings.cors_origins,
        )
    host_policy = HostPolicy(settings.host, settings.allowed_hosts)
    app.add_middleware(RequestGuard, host_policy=host_policy, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLogMiddleware, metrics=state.metrics)
    return app
