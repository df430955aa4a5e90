"""Describe a checkpoint from its config and safetensors headers, without loading any weight."""

from __future__ import annotations

import json
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

from gossamer.errors import CheckpointError
from gossamer.model.config import ModelConfig, is_hf_config, load_config

_MAX_HEADER_BYTES = 100 * 1024 * 1024
_EMBEDDING_NAMES = ("model.embed_tokens.weight", "embedding.weight")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def num_params(self) -> int:
        # An MXFP4 `*_blocks` byte packs two 4-bit values; its `*_scales` are not parameters.
        if self.name.endswith("_scales") or self.name.endswith(".scales"):
            return 0
        if self.name.endswith("_blocks") or self.name.endswith(".blocks"):
            return 2 * prod(self.shape)
        return prod(self.shape)

    @property
    def is_expert(self) -> bool:
        return ".experts." in self.name or ".mlp1_" in self.name or ".mlp2_" in self.name


def read_safetensors_header(path: Path) -> dict[str, dict]:
    """The header of one safetensors file; raise CheckpointError if the file is cut short or malformed."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            raw_len = f.read(8)
            if len(raw_len) < 8:
                raise CheckpointError(f"{path}: too short to be a safetensors file ({size} bytes)")
            (header_len,) = struct.unpack("<Q", raw_len)
            if header_len > _MAX_HEADER_BYTES or 8 + header_len > size:
                raise CheckpointError(f"{path}: safetensors header length {header_len} does not fit the file")
            header = json.loads(f.read(header_len))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable safetensors header ({exc})") from exc
    header.pop("__metadata__", None)
    data_end = max((t["data_offsets"][1] for t in header.values()), default=0)
    if 8 + header_len + data_end > size:
        raise CheckpointError(
            f"{path}: truncated ({size} bytes, the header promises {8 + header_len + data_end}); "
            "the download or copy did not finish"
        )
    return header


def weight_files(model_dir: Path) -> list[Path]:
    """The safetensors files a checkpoint needs, from its index when sharded."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index}: malformed index ({exc})") from exc
        return [model_dir / name for name in sorted(set(weight_map.values()))]
    return sorted(model_dir.glob("*.safetensors"))


def check_complete(model_dir: Path) -> None:
    """Raise CheckpointError naming what is missing or cut short in a model directory."""
    if not (model_dir / "config.json").is_file():
        raise CheckpointError(f"{model_dir}: no config.json")
    files = weight_files(model_dir)
    if not files:
        raise CheckpointError(f"{model_dir}: no *.safetensors weight files")
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise CheckpointError(f"{model_dir}: missing weight files {', '.join(missing)}")
    for f in files:
        read_safetensors_header(f)


def detect_layout(model_dir: Path) -> str:
    try:
        raw = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{model_dir}: unreadable config.json ({exc})") from exc
    return "hf" if is_hf_config(raw) else "original"


def dir_size_bytes(path: Path) -> int:
    # Follow the HF cache's symlinks to the blobs: the size a user cares about.
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass
class ModelSummary:
    path: Path
    layout: str
    config: ModelConfig
    size_bytes: int
    num_params: int
    num_active_params: int
    quantization: str
    dtypes: dict[str, int]  # dtype -> parameters stored in it
    # (name pattern with layer numbers as N, dtype, shape, count)
    tensor_groups: list[tuple[str, str, tuple[int, ...], int]] = field(default_factory=list)

    @property
    def context_length(self) -> int:
        return self.config.max_context_length


def count_params(tensors: list[TensorInfo], config: ModelConfig) -> tuple[int, int]:
    """(total, active per token) parameters."""
    num_params = sum(t.num_params for t in tensors)
    expert_params = sum(t.num_params for t in tensors if t.is_expert)
    embedding_params = sum(t.num_params for t in tensors if t.name in _EMBEDDING_NAMES)
    # Each token runs experts_per_token of num_experts experts; the embedding is a lookup, not
    # compute (the model card's 3.6B active for 20b counts it out the same way).
    num_active = (
        num_params - expert_params - embedding_params
        + expert_params * config.experts_per_token // config.num_experts
    )
    return num_params, num_active


def describe_model(model_dir: str | Path) -> ModelSummary:
    model_dir = Path(model_dir)
    config = load_config(model_dir)
    tensors: list[TensorInfo] = []
    for f in weight_files(model_dir):
        for name, meta in read_safetensors_header(f).items():
            tensors.append(TensorInfo(name, meta["dtype"], tuple(meta["shape"])))
    num_params, num_active = count_params(tensors, config)
    dtypes: Counter[str] = Counter()
    for t in tensors:
        if t.num_params:  # MXFP4 scales are not parameters
            dtype = "MXFP4" if t.name.endswith(("_blocks", ".blocks")) else t.dtype
            dtypes[dtype] += t.num_params
    has_mxfp4 = dtypes.get("MXFP4", 0) > 0
    rest = ", ".join(sorted(d.lower() for d in dtypes if d != "MXFP4")) or "none"
    quantization = f"MXFP4 experts, {rest} elsewhere" if has_mxfp4 else f"unquantized ({rest})"
    groups: dict[tuple[str, str, tuple[int, ...]], int] = Counter()
    for t in tensors:
        groups[(re.sub(r"\.\d+\.", ".N.", t.name), t.dtype, t.shape)] += 1
    return ModelSummary(
        path=model_dir, layout=detect_layout(model_dir), config=config, size_bytes=dir_size_bytes(model_dir),
        num_params=num_params, num_active_params=num_active, quantization=quantization, dtypes=dict(dtypes),
        tensor_groups=sorted((p, d, s, n) for (p, d, s), n in groups.items()),
    )
