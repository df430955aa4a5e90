"""Ollama's model management routes as functions: tags, show, ps, pull, delete.

Names follow Ollama's shapes (`details.parameter_size`, `model_info["gpt-oss.context_length"]`) so
its clients and UIs read them; the facts come from the config and safetensors headers.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from gossamer.errors import CheckpointError, GossamerError
from gossamer.hub import (
    ModelNotDownloaded,
    ModelSummary,
    PullProgress,
    RemovalRefused,
    UnknownModel,
    describe_model,
    list_models,
    pull_model,
    remove_model,
)
from gossamer.hub.store import registered_models
from gossamer.server.ollama.convert import OllamaError
from gossamer.server.state import ServerState
from gossamer.units import human_count


@lru_cache(maxsize=32)
def _summary(path: str, mtime_ns: int) -> ModelSummary:
    return describe_model(path)


def summary_of(path: Path) -> ModelSummary:
    return _summary(str(path), (path / "config.json").stat().st_mtime_ns)


def _digest(path: Path) -> str:
    return hashlib.sha256((path / "config.json").read_bytes() + str(path.resolve()).encode()).hexdigest()


def _modified_at(path: Path) -> str:
    return datetime.fromtimestamp((path / "config.json").stat().st_mtime, UTC).isoformat()


def details(summary: ModelSummary) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "safetensors",
        "family": "gpt-oss",
        "families": ["gpt-oss"],
        "parameter_size": human_count(summary.num_params),
        "quantization_level": "MXFP4" if "MXFP4" in summary.dtypes else "BF16",
    }


def _tag_entry(name: str, path: Path) -> dict[str, Any]:
    summary = summary_of(path)
    return {
        "name": name,
        "model": name,
        "modified_at": _modified_at(path),
        "size": summary.size_bytes,
        "digest": _digest(path),
        "details": details(summary),
    }


def tags(state: ServerState) -> dict[str, Any]:
    """The served model first, then every other complete model on this machine."""
    models = []
    served_path = Path(state.model_path).resolve() if state.model_path else None
    if served_path is not None:
        models.append(_tag_entry(state.model_name, served_path))
    for entry in list_models():
        if entry.complete and entry.path.resolve() != served_path:
            models.append(_tag_entry(entry.name, entry.path))
    return {"models": models}


LOCAL_PATHS_OFF = (
    "this server does not read model folders named by a request; start it with --allow-local-paths "
    "to allow that, or register the folder with `gossamer pull PATH`"
)


def names_local_folder(name: str) -> bool:
    """A name that is a folder on this machine rather than a model name (checked without the disk)."""
    from gossamer.hub.names import ModelKind, parse_model_name

    if name.strip().startswith((".", "/", "~")) or "\\" in name:
        return True
    try:
        return parse_model_name(name).kind is ModelKind.LOCAL and name not in registered_models()
    except GossamerError:
        return False


def check_local_paths(state: ServerState, name: str) -> None:
    # The same answer whether the folder exists or not: a request learns nothing about the disk.
    if not state.settings.allow_local_paths and names_local_folder(name):
        raise OllamaError(403, LOCAL_PATHS_OFF)


def _path_of(state: ServerState, name: str) -> Path:
    if state.resolve_model(name) is not None and state.model_path is not None:
        return Path(state.model_path)
    check_local_paths(state, name)
    from gossamer.hub import resolve_model

    try:
        return resolve_model(name)
    except (UnknownModel, ModelNotDownloaded) as exc:
        raise OllamaError(404, f"model '{name}' not found") from exc
    except GossamerError as exc:
        raise OllamaError(400, str(exc)) from exc


def show(state: ServerState, name: str) -> dict[str, Any]:
    path = _path_of(state, name)
    summary = summary_of(path)
    c = summary.config
    info = {
        "general.architecture": "gpt-oss",
        "general.parameter_count": summary.num_params,
        "general.active_parameter_count": summary.num_active_params,
        "general.file_type": summary.quantization,
        "gpt-oss.context_length": c.max_context_length,
        "gpt-oss.embedding_length": c.hidden_size,
        "gpt-oss.feed_forward_length": c.intermediate_size,
        "gpt-oss.block_count": c.num_layers,
        "gpt-oss.expert_count": c.num_experts,
        "gpt-oss.expert_used_count": c.experts_per_token,
        "gpt-oss.attention.head_count": c.num_heads,
        "gpt-oss.attention.head_count_kv": c.num_kv_heads,
        "gpt-oss.attention.key_length": c.head_dim,
        "gpt-oss.attention.value_length": c.head_dim,
        "gpt-oss.attention.sliding_window": c.sliding_window,
        "gpt-oss.rope.freq_base": c.rope_theta,
        "gpt-oss.rope.scaling.factor": c.rope_scaling_factor,
        "gpt-oss.rope.scaling.original_context_length": c.initial_context_length,
        "tokenizer.ggml.model": "o200k_harmony",
        "tokenizer.vocab_size": c.vocab_size,
    }
    return {
        "license": "Apache-2.0",
        "modelfile": f"# gossamer serves {path}\nFROM {path}\n",
        "parameters": "temperature 1\ntop_p 1",
        "template": "{{ harmony }}",  # rendered by openai-harmony, not by a text template
        "details": details(summary),
        "model_info": info,
        "capabilities": ["completion", "tools", "thinking"],
        "modified_at": _modified_at(path),
    }


def _kv_cache_bytes(state: ServerState) -> int:
    """The KV cache budget the engine was built with (its default when the settings left it open)."""
    try:
        from gossamer.engine.kv_cache import resolve_kv_cache_memory
    except ImportError:  # a build without the engine (API tests over a scripted one)
        return state.settings.kv_cache_memory_bytes or 0
    return resolve_kv_cache_memory(state.settings.kv_cache_memory_bytes)


def ps(state: ServerState) -> dict[str, Any]:
    if state.model_path is None:
        return {"models": []}
    path = Path(state.model_path)
    summary = summary_of(path)
    # Resident size: the weights plus the KV cache the engine reserved.
    size = summary.size_bytes + _kv_cache_bytes(state)
    on_gpu = str(state.settings.device).startswith("cuda")
    return {
        "models": [
            {
                "name": state.model_name,
                "model": state.model_name,
                "size": size,
                "digest": _digest(path),
                "details": details(summary),
                "expires_at": (datetime.now(UTC) + timedelta(days=3650)).isoformat(),  # never unloaded
                "size_vram": size if on_gpu else 0,
                "context_length": state.max_context_length,
            }
        ]
    }


async def pull(name: str) -> AsyncIterator[dict[str, Any]]:
    """Progress lines of a pull, ending with {"status": "success"}; raises OllamaError before any line."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[PullProgress | BaseException | None] = asyncio.Queue()

    def report(p: PullProgress) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, p)

    def work() -> None:
        try:
            pull_model(name, on_progress=report)
        except BaseException as exc:  # handed to the event loop, which reports it
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    task = loop.run_in_executor(None, work)
    last_status = None
    while True:
        item = await queue.get()
        if item is None:
            break
        if isinstance(item, BaseException):
            await task
            if isinstance(item, UnknownModel | CheckpointError):  # no such model, or not a model
                raise OllamaError(400, str(item))
            if isinstance(item, GossamerError):
                raise OllamaError(500, str(item))
            raise item
        if item.status == "success":
            continue  # sent once, last
        if item.status == "downloading":
            yield {
                "status": f"pulling {name}",
                "digest": name,
                "total": item.total,
                "completed": item.completed,
            }
        elif item.status == "verifying":
            if last_status != "verifying":
                yield {"status": "verifying sha256 digest"}
        else:
            yield {"status": item.status}
        last_status = item.status
    await task
    yield {"status": "success"}


def delete(name: str) -> None:
    try:
        remove_model(name)
    except (UnknownModel, ModelNotDownloaded) as exc:
        raise OllamaError(404, f"model '{name}' not found") from exc
    except RemovalRefused as exc:
        raise OllamaError(403, str(exc)) from exc
    except GossamerError as exc:
        raise OllamaError(400, str(exc)) from exc
