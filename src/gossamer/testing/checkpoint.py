"""Random gpt-oss checkpoints of any shape, in either published layout, streamed to disk.

The same seed gives the same weights in both layouts (each model tensor is drawn from its own
generator keyed by its name, then split, renamed or transposed as the layout wants), so one
model can be checked against itself across layouts and against transformers. Tensors are
generated and written chunk by chunk, so a 20b-shaped checkpoint (~13 GB) needs well under a
gigabyte of memory.

    python -m gossamer.testing.checkpoint --preset 20b --layout original OUT
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch

from gossamer.errors import CheckpointError
from gossamer.model.config import PRESETS, ModelConfig
from gossamer.model.safetensors_io import SafetensorsWriter, TensorSpec
from gossamer.model.weights import Kind, Layout, WeightSource, weight_sources

logger = logging.getLogger(__name__)

# Elements generated at once for plain tensors; bounds the writer's memory.
_CHUNK_ELEMENTS = 1 << 24
# The mean square of a uniformly random E2M1 code is 68.5/8, so its standard deviation is ~2.93.
_FP4_CODE_STD = math.sqrt(68.5 / 8)
DEFAULT_SHARD_BYTES = 4 * 1024**3


def write_checkpoint(
    out_dir: str | Path,
    config: ModelConfig,
    layout: Literal["original", "hf"] = "original",
    seed: int = 0,
    experts: Literal["mxfp4", "bf16"] = "mxfp4",
    float_dtype: torch.dtype = torch.bfloat16,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> Path:
    """Write config.json and random weights to `out_dir` (created); returns the directory.

    Original layout: one `model.safetensors`. Hugging Face layout: `model-0000i-of-0000n.safetensors`
    shards of at most `max_shard_bytes` plus `model.safetensors.index.json`.
    """
    config.validate("config")
    if experts not in ("mxfp4", "bf16"):
        raise ValueError(f"experts must be 'mxfp4' or 'bf16', got {experts!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lay = Layout(layout)
    packed = experts == "mxfp4"
    sources = weight_sources(config, lay, packed)
    specs = [spec for source in sources for spec in _checkpoint_specs(source, float_dtype)]
    total_bytes = sum(s.nbytes for s in specs)
    logger.info("writing a %.2f GB %s-layout checkpoint to %s", total_bytes / 1e9, layout, out)
    config_json = config.to_original_json() if lay is Layout.ORIGINAL else config.to_hf_json(quantized=packed)
    (out / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")

    if lay is Layout.ORIGINAL:
        shards = [[*sources]]
        names = ["model.safetensors"]
    else:
        shards = _group_into_shards(sources, float_dtype, max_shard_bytes)
        names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    progress = _Progress(total_bytes)
    weight_map: dict[str, str] = {}
    for shard_sources, name in zip(shards, names, strict=True):
        shard_specs = [spec for source in shard_sources for spec in _checkpoint_specs(source, float_dtype)]
        with SafetensorsWriter(out / name, shard_specs) as writer:
            for source in shard_sources:
                for spec_name, chunks in _checkpoint_tensors(source, config, seed, float_dtype):
                    writer.write_chunks(spec_name, chunks, on_bytes=progress.advance)
                    weight_map[spec_name] = name
    if lay is Layout.HF:
        index = {"metadata": {"total_size": total_bytes}, "weight_map": weight_map}
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    progress.done()
    return out


class _Progress:
    def __init__(self, total_bytes: int) -> None:
        self.total, self.written = total_bytes, 0
        self.started = self.last_log = time.perf_counter()

    def advance(self, nbytes: int) -> None:
        self.written += nbytes
        now = time.perf_counter()
        if now - self.last_log >= 5.0:
            self.last_log = now
            rate = self.written / (now - self.started) / 1e6
            logger.info("  %5.1f%% (%.2f of %.2f GB, %.0f MB/s)",
                        100 * self.written / self.total, self.written / 1e9, self.total / 1e9, rate)

    def done(self) -> None:
        logger.info("wrote %.2f GB in %.1f s", self.written / 1e9, time.perf_counter() - self.started)


def _checkpoint_specs(source: WeightSource, float_dtype: torch.dtype) -> list[TensorSpec]:
    dtype = torch.uint8 if source.kind is Kind.PACKED else float_dtype
    return [TensorSpec(name, dtype, shape) for name, shape in zip(source.names, source.shapes, strict=True)]


def _group_into_shards(
    sources: list[WeightSource], float_dtype: torch.dtype, max_shard_bytes: int
) -> list[list[WeightSource]]:
    shards: list[list[WeightSource]] = [[]]
    size = 0
    for source in sources:
        nbytes = sum(s.nbytes for s in _checkpoint_specs(source, float_dtype))
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(source)
        size += nbytes
    return shards


def _model_shape(source: WeightSource) -> tuple[int, ...]:
    """The tensor's shape inside GptOss (sources are concatenated along dim 0, maybe transposed)."""
    first = source.shapes[0]
    shape = (sum(s[0] for s in source.shapes), *first[1:])
    if source.transpose:
        shape = (*shape[:-2], shape[-1], shape[-2])
    return shape


def _checkpoint_tensors(
    source: WeightSource, config: ModelConfig, seed: int, float_dtype: torch.dtype
) -> Iterator[tuple[str, Iterator[torch.Tensor]]]:
    """(checkpoint name, chunks along dim 0) for each checkpoint tensor of one model weight."""
    shape = _model_shape(source)
    dtype = torch.uint8 if source.kind is Kind.PACKED else float_dtype
    chunks = _random_chunks(source.target, shape, dtype, config, seed)
    if len(source.names) > 1:  # small (q/k/v): materialize, then split along dim 0
        full = torch.cat(list(chunks))
        parts = full.split([s[0] for s in source.shapes])
        for name, part in zip(source.names, parts, strict=True):
            yield name, iter([part])
    elif source.transpose:
        yield source.names[0], (chunk.transpose(-1, -2) for chunk in chunks)
    else:
        yield source.names[0], chunks


def _random_chunks(
    target: str, shape: tuple[int, ...], dtype: torch.dtype, config: ModelConfig, seed: int
) -> Iterator[torch.Tensor]:
    """The model weight `target`, drawn from its own generator, as consecutive slices of dim 0."""
    generator = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(target.encode())) % 2**63)
    row_elements = math.prod(shape[1:])
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // max(row_elements, 1))
    kind, std = _init(target, config)
    for start in range(0, shape[0], rows_per_chunk):
        chunk_shape = (min(rows_per_chunk, shape[0] - start), *shape[1:])
        if kind == "codes":  # MXFP4 codes: every nibble uniform
            yield torch.randint(0, 256, chunk_shape, generator=generator, dtype=torch.uint8)
        elif kind == "scales":  # exponents near log2(std / code std), varying by one per block
            exponent = 127 + round(math.log2(std / _FP4_CODE_STD))
            low = torch.randint(0, 2, chunk_shape, generator=generator, dtype=torch.int16)
            yield (exponent - low).clamp(0, 254).to(torch.uint8)
        elif kind == "ones":
            yield (1.0 + std * torch.randn(chunk_shape, generator=generator)).to(dtype)
        else:
            yield (std * torch.randn(chunk_shape, generator=generator)).to(dtype)


def _init(target: str, config: ModelConfig) -> tuple[str, float]:
    """How to draw a weight so activations keep unit scale: (kind, standard deviation)."""
    c = config
    name = target.rsplit(".", 1)[-1]
    if name == "scale":
        return "ones", 0.1
    if name == "sinks":
        return "normal", 1.0
    if name in ("bias", "mlp1_bias", "mlp2_bias"):
        return "normal", 0.1
    if name.endswith("_blocks"):
        return "codes", 0.0
    fan_in = {
        "embedding.weight": 1,  # embeddings: unit variance per coordinate
        "qkv.weight": c.hidden_size,
        "out.weight": c.q_size,
        "gate.weight": c.hidden_size,
        "unembedding.weight": c.hidden_size,
    }
    if name in ("mlp1_weight", "mlp1_scales"):
        std = c.hidden_size**-0.5
    elif name in ("mlp2_weight", "mlp2_scales"):
        std = c.intermediate_size**-0.5
    else:
        key = next((k for k in fan_in if target == k or target.endswith("." + k)), None)
        assert key is not None, f"no initializer for {target}"
        std = fan_in[key] ** -0.5
    return ("scales" if name.endswith("_scales") else "normal"), std


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gossamer.testing.checkpoint",
        description="Write a random gpt-oss checkpoint (streamed, bounded memory).",
    )
    parser.add_argument("out", type=Path, help="output directory")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--layout", choices=["original", "hf"], default="original")
    parser.add_argument("--experts", choices=["mxfp4", "bf16"], default="mxfp4")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-shard-gb", type=float, default=DEFAULT_SHARD_BYTES / 1024**3)
    for field in dataclasses.fields(ModelConfig):
        if field.type in ("int", "float", int, float):
            flag = "--" + field.name.replace("_", "-")
            parser.add_argument(flag, type=float if "float" in str(field.type) else int, default=None,
                                help=f"override the preset's {field.name}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parse_args(argv)
    overrides = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(ModelConfig)
        if getattr(args, f.name, None) is not None
    }
    config = dataclasses.replace(PRESETS[args.preset], **overrides)
    if "num_layers" in overrides:
        config = dataclasses.replace(config, layer_types=())  # re-derive the alternation
    try:
        config.validate("command line")
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = write_checkpoint(args.out, config, layout=args.layout, seed=args.seed, experts=args.experts,
                            max_shard_bytes=int(args.max_shard_gb * 1024**3))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
