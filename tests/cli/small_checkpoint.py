"""A small gpt-oss shaped checkpoint for store, CLI and Ollama API tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from gossamer.model.config import PRESETS

REPO_ID = "openai/gpt-oss-20b"


def write_small_checkpoint(out_dir: Path, *, padding_bytes: int = 0) -> Path:
    """A HF-layout gpt-oss shaped directory (tiny config, a few tensors) for store tests.

    `padding_bytes` adds a large tensor so that downloads span several of huggingface_hub's 10 MiB chunks.
    """
    config = PRESETS["tiny"]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config.to_hf_json()))
    rng = np.random.default_rng(0)
    e, i, h = config.num_experts, config.intermediate_size, config.hidden_size
    tensors = {
        "model.norm.weight": rng.standard_normal(config.hidden_size).astype(np.float32),
        "model.layers.0.mlp.experts.gate_up_proj_blocks": rng.integers(
            0, 255, (e, 2 * i, h // 32, 16), dtype=np.uint8
        ),
        "model.layers.0.mlp.experts.gate_up_proj_scales": np.full((e, 2 * i, h // 32), 127, dtype=np.uint8),
    }
    if padding_bytes:
        tensors["model.embed_tokens.weight"] = rng.integers(0, 255, padding_bytes, dtype=np.uint8)
    save_file(tensors, str(out_dir / "model.safetensors"))
    (out_dir / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 131072}))
    # Files a pull must skip: the duplicate original and metal layouts.
    (out_dir / "original").mkdir(exist_ok=True)
    (out_dir / "original" / "config.json").write_text(json.dumps(config.to_original_json()))
    save_file({"norm.scale": tensors["model.norm.weight"]}, str(out_dir / "original" / "model.safetensors"))
    (out_dir / "metal").mkdir(exist_ok=True)
    (out_dir / "metal" / "model.bin").write_bytes(b"\0" * 64)
    return out_dir
