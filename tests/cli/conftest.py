"""Fixtures for the model store and CLI tests: isolated caches and a fake hub on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from gossamer.model.config import PRESETS
from gossamer.testing.fake_hub import FakeHub

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
            0, 255, (e, 2 * i, h // 32, 16), dtype=np.uint8),
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


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh HF cache and gossamer home under tmp_path (the user's real caches are never touched)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("GOSSAMER_HOME", str(tmp_path / "gossamer"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path


@pytest.fixture
def fake_hub(store_env: Path, monkeypatch: pytest.MonkeyPatch):
    hub = FakeHub()
    hub.add_directory(REPO_ID, write_small_checkpoint(store_env / "source", padding_bytes=24 << 20))
    with hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub
