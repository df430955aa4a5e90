"""Load a gpt-oss checkpoint of either layout into a GptOss module, one tensor at a time.

The module is built on the meta device (no memory), then each weight is read from its
safetensors file straight into its final buffer and placed. MXFP4 experts stay packed. Peak
memory is therefore the model's size plus one tensor in flight.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from gossamer.errors import CheckpointError
from gossamer.kernels.integrate import use_cpu_kernels
from gossamer.model import hugepages
from gossamer.model.config import ModelConfig, load_config
from gossamer.model.gpt_oss import GptOss
from gossamer.model.safetensors_io import SafetensorsFile
from gossamer.model.weights import Kind, Layout, WeightSource, expert_names, weight_sources

logger = logging.getLogger(__name__)

INDEX_FILE = "model.safetensors.index.json"
_FLOAT_DTYPES = (torch.bfloat16, torch.float16, torch.float32)


def resolve_model_dir(path: str | Path) -> Path:
    """The directory holding config.json and weights; accepts a model repo with only `original/`."""
    path = Path(path).expanduser()
    if path.is_file() and path.name == "config.json":
        path = path.parent
    if not path.is_dir():
        raise CheckpointError(f"{path}: model directory not found")
    if not (path / "config.json").is_file() and (path / "original" / "config.json").is_file():
        return path / "original"
    return path


def load_model_config(path: str | Path) -> ModelConfig:
    return load_config(resolve_model_dir(path) / "config.json")


class CheckpointFiles:
    """Tensor name -> the safetensors file that holds it, for a plain or a sharded checkpoint."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.files: dict[str, SafetensorsFile] = {}  # tensor name -> file
        index_path = model_dir / INDEX_FILE
        if index_path.is_file():
            self.source = index_path
            weight_map = self._read_index(index_path)
            opened: dict[str, SafetensorsFile] = {}
            for name, filename in weight_map.items():
                if filename not in opened:
                    shard = model_dir / filename
                    if not shard.is_file():
                        raise CheckpointError(
                            f"{shard}: shard listed in {index_path} (tensor '{name}') is missing"
                        )
                    opened[filename] = SafetensorsFile(shard)
                if name not in opened[filename].tensors:
                    raise CheckpointError(
                        f"{opened[filename].path}: missing tensor '{name}' (listed there by {index_path})"
                    )
                self.files[name] = opened[filename]
        else:
            self.source = model_dir
            paths = sorted(model_dir.glob("*.safetensors"))
            if not paths:
                raise CheckpointError(f"{model_dir}: no .safetensors weight files found")
            for path in paths:
                st = SafetensorsFile(path)
                for name in st.tensors:
                    self.files.setdefault(name, st)

    @staticmethod
    def _read_index(index_path: Path) -> dict[str, str]:
        try:
            weight_map = json.loads(index_path.read_text())["weight_map"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index_path}: not a valid safetensors index ({exc})") from exc
        if not isinstance(weight_map, dict):
            raise CheckpointError(f"{index_path}: 'weight_map' must be an object")
        return weight_map

    def describe(self) -> str:
        names = sorted({st.path.name for st in self.files.values()})
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        return shown or "no files"

    def detect_layout(self) -> Layout:
        if "embedding.weight" in self.files or "block.0.attn.qkv.weight" in self.files:
            return Layout.ORIGINAL
        if "model.embed_tokens.weight" in self.files or "model.layers.0.input_layernorm.weight" in self.files:
            return Layout.HF
        raise CheckpointError(
            f"{self.source}: neither the original (block.N.*) nor the Hugging Face (model.layers.N.*) "
            "gpt-oss tensor names were found"
        )

    def has_packed_experts(self, layout: Layout) -> bool:
        packed, dense = expert_names(layout, 0)
        if packed in self.files:
            return True
        if dense in self.files:
            return False
        raise CheckpointError(
            f"{self.source}: missing tensor '{packed}' (MXFP4 experts) or '{dense}' (bf16), "
            f"looked in {self.describe()}"
        )

    def read(self, source: WeightSource) -> torch.Tensor:
        """Read, check and combine the checkpoint tensors of one model weight (on the CPU)."""
        parts = []
        for name, shape in zip(source.names, source.shapes, strict=True):
            st = self.files.get(name)
            if st is None:
                raise CheckpointError(f"{self.source}: missing tensor '{name}' (looked in {self.describe()})")
            info = st.tensors[name]
            if info.shape != shape:
                raise CheckpointError(
                    f"{st.path}: tensor '{name}' has shape {list(info.shape)}, expected {list(shape)}"
                )
            dtype = info.dtype
            ok = dtype == torch.uint8 if source.kind is Kind.PACKED else dtype in _FLOAT_DTYPES
            if not ok:
                expected = "U8" if source.kind is Kind.PACKED else "BF16, F16 or F32"
                raise CheckpointError(
                    f"{st.path}: tensor '{name}' has dtype {info.dtype_name}, expected {expected}"
                )
            parts.append(st.read(name))
        if len(parts) == 1:
            tensor = parts[0]
        else:  # sharded along rows: joined into one huge-page buffer (see hugepages.py)
            shape = (sum(p.shape[0] for p in parts), *parts[0].shape[1:])
            tensor = torch.cat(parts, dim=0, out=hugepages.empty(shape, parts[0].dtype))
        if source.transpose:
            tensor = tensor.transpose(-1, -2)
        return tensor


def load_model(
    path: str | Path, dtype: torch.dtype = torch.bfloat16, device: str | torch.device = "cpu"
) -> GptOss:
    """Load either layout (a model directory, sharded or not) as a GptOss in `dtype` on `device`."""
    started = time.perf_counter()
    model_dir = resolve_model_dir(path)
    config = load_config(model_dir / "config.json")
    files = CheckpointFiles(model_dir)
    layout = files.detect_layout()
    packed = files.has_packed_experts(layout)
    device = torch.device(device)
    with torch.device("meta"):
        model = GptOss(config, packed_experts=packed)
    for source in weight_sources(config, layout, packed):
        tensor = files.read(source)
        if source.kind is Kind.FLOAT:
            tensor = tensor.to(dtype)
        elif source.kind is Kind.FLOAT32:
            tensor = tensor.to(torch.float32)
        tensor = tensor.to(device).contiguous()
        _place(model, source.target, tensor)
    model.rope.to(device)
    leftover = [name for name, t in model.state_dict().items() if t.is_meta]
    assert not leftover, f"weights never loaded: {leftover[:5]}"
    # On the CPU the compiled kernels (gossamer/kernels) take the MXFP4 experts when they can run.
    use_cpu_kernels(model)
    logger.info(
        "loaded %s (%s layout, %s experts) in %.1f s",
        model_dir, layout.value, "MXFP4" if packed else "dense", time.perf_counter() - started,
    )
    return model.eval()


def _place(model: torch.nn.Module, target: str, tensor: torch.Tensor) -> None:
    module_name, _, attr = target.rpartition(".")
    module = model.get_submodule(module_name)
    if attr in module._parameters:
        module._parameters[attr] = torch.nn.Parameter(tensor, requires_grad=False)
    else:
        module._buffers[attr] = tensor
