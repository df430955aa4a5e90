"""`gossamer serve [MODEL]`: check the flags and the model up front, then hand over to the server."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
from collections.abc import Mapping

from gossamer.errors import GossamerError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")
DTYPES = ("bfloat16", "float32", "float16")


def check_settings(settings) -> None:  # ServerSettings
    if not 0 < settings.port < 65536:
        raise GossamerError(f"port {settings.port} is out of range (1-65535)")
    if not _DEVICE.match(settings.device):
        raise GossamerError(f"unknown device '{settings.device}': use cpu, cuda, cuda:N or mps")
    if settings.dtype not in DTYPES:
        raise GossamerError(f"unknown dtype '{settings.dtype}': use one of {', '.join(DTYPES)}")
    for name in ("max_context_length", "kv_cache_memory_bytes", "max_concurrent_requests", "max_queue"):
        value = getattr(settings, name)
        if value is not None and value <= 0:
            raise GossamerError(f"--{name.replace('_', '-')} must be positive, got {value}")


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise GossamerError(
                f"cannot listen on {host}:{port} ({exc.strerror}): another program (a gossamer server?) "
                "holds the port; pick another with --port or GOSSAMER_PORT"
            ) from exc


def server_env(env: Mapping[str, str]) -> dict[str, str]:
    """Read GOSSAMER_HOST the way Ollama reads OLLAMA_HOST: one variable for both `serve` and the clients.

    `http://0.0.0.0:8080` or `0.0.0.0:8080` sets the host and (unless GOSSAMER_PORT is set) the port.
    """
    out = dict(env)
    raw = out.get("GOSSAMER_HOST", "").strip()
    if not raw:
        return out
    hostport = raw.split("://", 1)[-1].rstrip("/")
    host, port = hostport, None
    if hostport.startswith("["):  # [::1]:8000
        host, _, rest = hostport[1:].partition("]")
        port = rest.removeprefix(":") or None
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    out["GOSSAMER_HOST"] = host
    if port and not out.get("GOSSAMER_PORT"):
        out["GOSSAMER_PORT"] = port
    return out


def prepare_settings(args: argparse.Namespace):
    from gossamer.hub import model_display_name, resolve_model
    from gossamer.server.settings import settings_from_args

    try:
        settings = settings_from_args(args, server_env(os.environ))
    except ValueError as exc:  # a GOSSAMER_* variable that does not parse
        raise GossamerError(str(exc)) from exc
    check_settings(settings)
    if settings.tools:
        # A tool that cannot work (python with no sandbox, a backend with no key) stops the server
        # here, in one line, before the model loads.
        from gossamer.tools.config import ServerTools

        ServerTools.from_settings(settings)
    if settings.mcp or settings.mcp_allow_network:
        # A malformed --mcp NAME=URL, a header variable that does not parse or a bad network: the
        # same. Servers that are down are not an error: they offer nothing until they answer.
        from gossamer.tools.mcp.registry import McpRegistry

        McpRegistry.from_settings(settings, os.environ)
    if settings.uses_upstreams:
        if settings.model is not None:
            raise GossamerError(
                f"--upstream serves the upstreams' model; drop the model argument ({settings.model}), "
                "or use --served-model-name to name what clients see"
            )
        return settings
    if settings.model is not None:
        # Resolve here so that a missing or half-downloaded model fails before anything loads.
        name = settings.model
        settings.model = str(resolve_model(name))
        if settings.served_model_name is None:
            settings.served_model_name = model_display_name(name)
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    settings = prepare_settings(args)
    check_port_free(settings.host, settings.port)
    from gossamer.server.main import serve

    # uvicorn re-raises the signal after its graceful shutdown: Ctrl-C is the normal way to stop.
    with contextlib.suppress(KeyboardInterrupt):
        serve(settings)
    return 0
