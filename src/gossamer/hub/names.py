"""What a model name the user typed refers to: the embedded model, a local directory, or a hub repo."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from gossamer.errors import GossamerError
from gossamer.hub.store import registered_models

TINY_MODEL_NAME = "gossamer-tiny"

# Short names people type (Ollama style with a tag, or the bare model name) -> hub repo.
ALIASES = {
    "gpt-oss": "openai/gpt-oss-20b",
    "gpt-oss:latest": "openai/gpt-oss-20b",
    "gpt-oss-20b": "openai/gpt-oss-20b",
    "gpt-oss:20b": "openai/gpt-oss-20b",
    "gpt-oss-120b": "openai/gpt-oss-120b",
    "gpt-oss:120b": "openai/gpt-oss-120b",
}

# The hub's rule for repo ids: owner/name, letters, digits, '-', '_', '.'; at most 96 characters.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


class UnknownModel(GossamerError):
    pass


class ModelKind(StrEnum):
    EMBEDDED = "embedded"
    LOCAL = "local"
    HUB = "hub"


@dataclass(frozen=True)
class ModelRef:
    name: str  # the canonical name shown to users
    kind: ModelKind
    repo_id: str | None = None
    path: Path | None = None


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or Path(name).expanduser().is_dir()


def parse_model_name(name: str) -> ModelRef:
    """Classify `name` without touching the network; raise UnknownModel listing the choices."""
    name = name.strip()
    if not name:
        raise UnknownModel("no model name given")
    if name.lower() in (TINY_MODEL_NAME, TINY_MODEL_NAME + ":latest"):
        return ModelRef(TINY_MODEL_NAME, ModelKind.EMBEDDED)
    registered = registered_models()
    if name in registered:
        return ModelRef(name, ModelKind.LOCAL, path=registered[name])
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise UnknownModel(f"{name}: no such model directory")
        return ModelRef(path.resolve().name, ModelKind.LOCAL, path=path.resolve())
    lowered = name.lower()
    if lowered in ALIASES:
        repo_id = ALIASES[lowered]
        return ModelRef(repo_id, ModelKind.HUB, repo_id=repo_id)
    if _REPO_ID.match(name):
        return ModelRef(name, ModelKind.HUB, repo_id=name)
    choices = ", ".join([TINY_MODEL_NAME, "gpt-oss-20b", "gpt-oss-120b", *sorted(registered)])
    raise UnknownModel(
        f"unknown model '{name}': use one of {choices}, a Hugging Face repo id (owner/name) "
        "or a directory holding config.json and *.safetensors"
    )
