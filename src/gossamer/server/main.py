"""Run the server: `python -m gossamer.server.main [--model PATH] [--host H] [--port P] ...`.

`serve(settings)` is what `gossamer serve` calls: resolve the model, build the engine, load the
harmony encoding, and run uvicorn until SIGINT/SIGTERM. On a signal uvicorn stops accepting
connections and lets running streams finish (up to `shutdown_timeout_s`) before the lifespan
shuts the engine down.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from gossamer.errors import GossamerError
from gossamer.server.settings import ServerSettings, add_arguments, settings_from_args

logger = logging.getLogger("gossamer.server")


def resolve_model_path(model: str | None) -> Path:
    if model is None:
        from gossamer.tiny import model_path  # the embedded model ships inside the package

        return model_path()
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    try:
        from gossamer.hub import resolve_model
    except ImportError as exc:
        raise GossamerError(f"model directory {model!r} does not exist") from exc
    return Path(resolve_model(model))


def served_name(settings: ServerSettings, path: Path) -> str:
    if settings.served_model_name:
        return settings.served_model_name
    if settings.model is not None and not Path(settings.model).expanduser().is_dir():
        return settings.model  # a name such as gpt-oss-20b: clients will send it back
    if path.parent.name == "snapshots":
        # A Hugging Face cache snapshot (models--openai--gpt-oss-20b/snapshots/<hash>): name the repo.
        return path.parent.parent.name.split("--")[-1]
    return path.name


def build_state(settings: ServerSettings):  # -> ServerState (imports deferred: torch is heavy)
    if settings.uses_upstreams:
        return build_upstream_state(settings)
    from gossamer.engine import build_engine
    from gossamer.harmony.tokenizer import load_harmony_encoding
    from gossamer.server.state import ServerState

    path = resolve_model_path(settings.model)
    name = served_name(settings, path)
    # A 20b checkpoint takes ~15 s to load on a CPU: say so before the wait.
    logger.info("loading %s from %s (%s, %s) ...", name, path, settings.device, settings.dtype)
    engine = build_engine(path, settings.engine_config())
    extra = tuple(n for n in {path.name, settings.model or ""} if n and n != name and "/" not in n.strip("/"))
    return ServerState(
        engine=engine,
        encoding=load_harmony_encoding(path),
        model_name=name,
        model_path=path,
        settings=settings,
        extra_model_names=extra,
    )


def build_upstream_state(settings: ServerSettings):  # -> ServerState
    """A front over upstream servers (gossamer/upstream): no model here, theirs served under their name."""
    from gossamer.harmony.tokenizer import load_harmony_encoding
    from gossamer.server.state import ServerState
    from gossamer.upstream import connect_fleet, fleet_config

    config = fleet_config(
        settings.upstream,
        settings.upstream_config,
        api_key=settings.upstream_api_key,
        health_interval_s=settings.upstream_health_interval_s,
        timeout_s=settings.upstream_timeout_s,
    )
    logger.info("reaching %s ...", ", ".join(spec.url for spec in config.upstreams))
    engine = connect_fleet(config, max_context_length=settings.max_context_length)
    assert engine.model is not None  # connect_fleet returns once an upstream is up
    name = settings.served_model_name or engine.model
    return ServerState(
        engine=engine,
        encoding=load_harmony_encoding(),
        model_name=name,
        model_path=None,
        settings=settings,
        extra_model_names=(engine.model,) if engine.model != name else (),
    )


def configure_logging(log_level: str) -> None:
    """Gossamer's own lines (start-up, one per request) follow --log-level; other libraries stay at WARNING.

    `gossamer serve` has already set up the root logger at WARNING (so library chatter stays out);
    `python -m gossamer.server.main` has not, and gets the same handler here.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gossamer").setLevel(log_level.upper())


def server_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def startup_line(state, settings: ServerSettings, *, load_time_s: float) -> str:  # state: ServerState
    """What is served where, on one line: the first thing to check when a client gets surprises."""
    if settings.uses_upstreams:
        replicas = state.engine.replicas
        kinds = [r.identity.kind if r.identity else r.state.value for r in replicas]
        upstreams = ", ".join(f"{r.label} {kind}" for r, kind in zip(replicas, kinds, strict=True))
        return (
            f"serving {state.model_name} on {server_url(settings.host, settings.port)} from "
            f"{sum(r.is_up for r in replicas)} of {len(replicas)} upstreams ({upstreams}), "
            f"context {state.max_context_length} tokens, "
            f"API key {'required' if settings.api_key else 'not required'}, ready in {load_time_s:.1f} s"
        )
    from gossamer.engine.kv_cache import resolve_kv_cache_memory
    from gossamer.units import human_bytes

    kv_bytes = resolve_kv_cache_memory(settings.kv_cache_memory_bytes)
    return (
        f"serving {state.model_name} on {server_url(settings.host, settings.port)} "
        f"(device {settings.device}, {settings.dtype}, context {state.max_context_length} tokens, "
        f"KV cache {human_bytes(kv_bytes)}, up to {settings.max_concurrent_requests} requests at once, "
        f"API key {'required' if settings.api_key else 'not required'}, loaded in {load_time_s:.1f} s)"
    )


def serve(settings: ServerSettings) -> None:
    import uvicorn

    from gossamer.server.app import create_app

    configure_logging(settings.log_level)
    started = time.perf_counter()
    state = build_state(settings)
    logger.info("%s", startup_line(state, settings, load_time_s=time.perf_counter() - started))
    config = uvicorn.Config(
        create_app(state),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,  # our request log is structured and carries the request id
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        lifespan="on",
    )
    uvicorn.Server(config).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gossamer.server.main", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
        serve(settings)
    except (GossamerError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
