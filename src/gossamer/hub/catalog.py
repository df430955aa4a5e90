"""The models this machine has: resolve a name to a directory, pull, list and remove."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gossamer.errors import CheckpointError, GossamerError
from gossamer.hub import store
from gossamer.hub.inspect import check_complete, detect_layout, dir_size_bytes
from gossamer.hub.names import TINY_MODEL_NAME, ModelKind, ModelRef, parse_model_name
from gossamer.hub.progress import PullProgress
from gossamer.hub.pull import hub_cache_dir, pull_repo, repo_storage_dir


class ModelNotDownloaded(GossamerError):
    pass


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str  # "embedded" | "cached" | "manual" | "registered"
    path: Path
    size_bytes: int
    layout: str  # "hf" | "original"
    complete: bool
    problem: str | None = None


def _embedded_path() -> Path:
    try:
        from gossamer.tiny import model_path
    except ImportError as exc:
        raise GossamerError(f"the embedded model {TINY_MODEL_NAME} is not available in this install") from exc
    return Path(model_path())


def _cached_snapshot(repo_id: str) -> Path | None:
    """The snapshot directory `refs/main` points at in the HF cache, if any."""
    storage = repo_storage_dir(repo_id)
    record = store.pull_record(repo_id) or {}
    commit = record.get("commit")
    if commit is None and (storage / "refs" / "main").is_file():
        commit = (storage / "refs" / "main").read_text().strip()
    if commit and (storage / "snapshots" / commit).is_dir():
        return storage / "snapshots" / commit
    return None


def _model_dir_in(snapshot: Path, layout: str | None) -> Path:
    # A pull of the original layout keeps its files under original/; a cache filled by another
    # tool may hold either layout.
    if layout == "original" or (layout is None and not (snapshot / "config.json").is_file()
                                and (snapshot / "original" / "config.json").is_file()):
        return snapshot / "original"
    return snapshot


def _resolve_hub(ref: ModelRef) -> Path:
    assert ref.repo_id is not None
    manual = store.manual_models_dir() / ref.repo_id
    if manual.is_dir():
        check_complete(manual)
        return manual
    record = store.pull_record(ref.repo_id)
    snapshot = _cached_snapshot(ref.repo_id)
    if snapshot is None:
        raise ModelNotDownloaded(f"model {ref.name} is not downloaded: run `gossamer pull {ref.name}`")
    model_dir = _model_dir_in(snapshot, record.get("layout") if record else None)
    if record is not None and not record.get("complete"):
        raise ModelNotDownloaded(
            f"model {ref.name} is only half downloaded: run `gossamer pull {ref.name}` to finish it"
        )
    try:
        check_complete(model_dir)
    except CheckpointError as exc:
        raise ModelNotDownloaded(
            f"model {ref.name} is incomplete ({exc}): run `gossamer pull {ref.name}` to finish it"
        ) from exc
    return model_dir


def resolve_model(name_or_path: str | Path) -> Path:
    """The directory of a ready-to-load model, or a GossamerError that says how to get it."""
    ref = parse_model_name(str(name_or_path))
    if ref.kind is ModelKind.EMBEDDED:
        return _embedded_path()
    if ref.kind is ModelKind.LOCAL:
        assert ref.path is not None
        check_complete(ref.path)
        return ref.path
    return _resolve_hub(ref)


def model_display_name(name_or_path: str | Path) -> str:
    return parse_model_name(str(name_or_path)).name


def pull_model(name: str, *, layout: str = "hf", revision: str = "main",
               on_progress: Callable[[PullProgress], None] | None = None) -> Path:
    """Fetch a hub model into the HF cache, or register a local directory; return its directory."""
    ref = parse_model_name(name)
    if ref.kind is ModelKind.EMBEDDED:
        path = _embedded_path()
    elif ref.kind is ModelKind.LOCAL:
        assert ref.path is not None
        check_complete(ref.path)
        store.register(ref.name, ref.path)
        path = ref.path
    else:
        assert ref.repo_id is not None
        return pull_repo(ref.repo_id, revision=revision, layout=layout, on_progress=on_progress)
    if on_progress is not None:
        size = dir_size_bytes(path)
        on_progress(PullProgress("success", size, size))
    return path


def _entry(name: str, source: str, path: Path) -> ModelEntry:
    problem = None
    try:
        check_complete(path)
        layout = detect_layout(path)
    except CheckpointError as exc:
        problem = str(exc)
        layout = "unknown"
    return ModelEntry(name, source, path, dir_size_bytes(path) if path.is_dir() else 0, layout,
                      problem is None, problem)


def _is_gpt_oss_dir(path: Path) -> bool:
    try:
        raw = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return raw.get("model_type") == "gpt_oss" or "experts_per_token" in raw


def list_models() -> list[ModelEntry]:
    entries: list[ModelEntry] = []
    with contextlib.suppress(GossamerError):  # an install without the embedded model
        entries.append(_entry(TINY_MODEL_NAME, "embedded", _embedded_path()))
    cache = hub_cache_dir()
    for storage in sorted(cache.glob("models--*--*")) if cache.is_dir() else []:
        repo_id = storage.name.removeprefix("models--").replace("--", "/", 1)
        snapshot = _cached_snapshot(repo_id)
        if snapshot is None:
            continue
        record = store.pull_record(repo_id)
        model_dir = _model_dir_in(snapshot, record.get("layout") if record else None)
        if not _is_gpt_oss_dir(model_dir):
            continue  # another tool's model sharing the cache
        entry = _entry(repo_id, "cached", model_dir)
        if record is not None and not record.get("complete"):
            entry = ModelEntry(entry.name, entry.source, entry.path, entry.size_bytes, entry.layout, False,
                               "download not finished")
        entries.append(entry)
    manual = store.manual_models_dir()
    for config in sorted(manual.glob("*/*/config.json")) if manual.is_dir() else []:
        entries.append(_entry(config.parent.relative_to(manual).as_posix(), "manual", config.parent))
    for name, path in sorted(store.registered_models().items()):
        entries.append(_entry(name, "registered", path))
    return entries


class RemovalRefused(GossamerError):
    """A model gossamer may not delete: nothing was touched."""


@dataclass(frozen=True)
class Removal:
    """What removing a model would do, decided before anything is touched."""

    name: str
    paths: list[Path]  # folders to delete (none: only a registration is forgotten)
    size_bytes: int
    unregister: bool = False
    repo_id: str | None = None  # whose pull record goes with the files

    def describe(self) -> str:
        if self.unregister:
            return f"forget the registered {self.name} (its files are left alone)"
        return f"delete {self.name}: {', '.join(map(str, self.paths))}"


def plan_removal(name: str) -> Removal:
    """What `remove_model(name)` would delete, or why it may not.

    Gossamer deletes only what is its own: gpt-oss checkpoints it pulled into the shared Hugging
    Face cache (a pull it never finished included) and copies in its own models folder. Another
    tool's model in the shared cache, even a gpt-oss one gossamer did not download, is refused
    with every file left in place; registered folders are only forgotten.
    """
    registered = store.registered_models()
    if name in registered:
        return Removal(name, [], 0, unregister=True)
    ref = parse_model_name(name)
    if ref.kind is ModelKind.EMBEDDED:
        raise RemovalRefused(f"{TINY_MODEL_NAME} is embedded in gossamer and cannot be removed")
    if ref.kind is ModelKind.LOCAL:
        raise RemovalRefused(f"{name} is not a registered model; gossamer never deletes your directories")
    assert ref.repo_id is not None
    paths: list[Path] = []
    manual = store.manual_models_dir() / ref.repo_id
    if manual.is_dir():
        if not _is_gpt_oss_dir(manual):
            raise RemovalRefused(f"{manual} does not hold a gpt-oss checkpoint; gossamer leaves it alone")
        paths.append(manual)
    storage = repo_storage_dir(ref.repo_id)
    if storage.is_dir():
        record = store.pull_record(ref.repo_id)
        snapshot = _cached_snapshot(ref.repo_id)
        model_dir = _model_dir_in(snapshot, record.get("layout") if record else None) if snapshot else None
        finished = model_dir is not None and (model_dir / "config.json").is_file()
        if record is None:
            raise RemovalRefused(
                f"{ref.name} in the shared Hugging Face cache ({storage}) was not downloaded by gossamer; "
                "another tool may use it, so gossamer leaves it alone (`hf cache delete` removes it)"
            )
        if finished and not _is_gpt_oss_dir(model_dir):
            raise RemovalRefused(f"{ref.name} is not a gpt-oss checkpoint; gossamer leaves it alone")
        paths.append(storage)
    if not paths:
        raise ModelNotDownloaded(f"model {ref.name} is not downloaded")
    return Removal(ref.name, paths, sum(dir_size_bytes(p) for p in paths), repo_id=ref.repo_id)


def remove_model(name: str) -> str:
    """Remove a model gossamer may remove (see plan_removal); say what was done."""
    removal = plan_removal(name)
    if removal.unregister:
        path = store.registered_models()[name]
        store.unregister(name)
        return f"unregistered {name} (its files in {path} are left alone)"
    for path in removal.paths:
        shutil.rmtree(path)
    if removal.repo_id is not None:
        store.set_pull_record(removal.repo_id, None)
    return f"deleted {removal.name} ({', '.join(map(str, removal.paths))})"
