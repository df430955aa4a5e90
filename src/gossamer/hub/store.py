"""Gossamer's own small state on disk: registered local model directories and pull records.

Weights live in the standard Hugging Face cache (shared with other tools); this file only
remembers what that cache cannot say: which local directories a user registered under a name, and
which pulls finished and were verified (a pull that never finished is reported as half-downloaded).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from gossamer.errors import GossamerError


def gossamer_home() -> Path:
    """`$GOSSAMER_HOME`, else `~/.cache/gossamer` (the embedded model unpacks there too)."""
    env = os.environ.get("GOSSAMER_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gossamer"


def manual_models_dir() -> Path:
    """Where a user copies a model by hand when this machine cannot reach the hub."""
    return gossamer_home() / "models"


def _store_path() -> Path:
    return gossamer_home() / "models.json"


def load_store() -> dict[str, Any]:
    path = _store_path()
    if not path.is_file():
        return {"registered": {}, "pulls": {}}
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GossamerError(f"{path}: unreadable model registry ({exc}); fix or delete the file") from exc
    raw.setdefault("registered", {})
    raw.setdefault("pulls", {})
    return raw


def save_store(data: dict[str, Any]) -> None:
    # Write then rename, so that a crash never leaves half a registry behind.
    path = _store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".models.", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def registered_models() -> dict[str, Path]:
    return {name: Path(p) for name, p in load_store()["registered"].items()}


def register(name: str, path: Path) -> None:
    data = load_store()
    data["registered"][name] = str(path.resolve())
    save_store(data)


def unregister(name: str) -> bool:
    data = load_store()
    found = data["registered"].pop(name, None) is not None
    save_store(data)
    return found


def pull_record(repo_id: str) -> dict[str, Any] | None:
    return load_store()["pulls"].get(repo_id)


def set_pull_record(repo_id: str, record: dict[str, Any] | None) -> None:
    data = load_store()
    if record is None:
        data["pulls"].pop(repo_id, None)
    else:
        data["pulls"][repo_id] = record
    save_store(data)
