"""The model store: names, pulling from the Hugging Face hub, the local catalog, checkpoint facts."""

from gossamer.hub.catalog import (
    ModelEntry,
    ModelNotDownloaded,
    Removal,
    RemovalRefused,
    list_models,
    model_display_name,
    plan_removal,
    pull_model,
    remove_model,
    resolve_model,
)
from gossamer.hub.errors import ChecksumError, OfflineError
from gossamer.hub.inspect import ModelSummary, describe_model
from gossamer.hub.names import TINY_MODEL_NAME, ModelRef, UnknownModel, parse_model_name
from gossamer.hub.progress import PullProgress

__all__ = [
    "TINY_MODEL_NAME",
    "ChecksumError",
    "ModelEntry",
    "ModelNotDownloaded",
    "ModelRef",
    "ModelSummary",
    "OfflineError",
    "PullProgress",
    "Removal",
    "RemovalRefused",
    "UnknownModel",
    "describe_model",
    "list_models",
    "model_display_name",
    "parse_model_name",
    "plan_removal",
    "pull_model",
    "remove_model",
    "resolve_model",
]
