"""model_path() unpacks the bundled checkpoint once, into $GOSSAMER_HOME, and is idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from gossamer.model.config import load_config
from gossamer.tiny import ARCHIVE, TINY_MODEL_NAME, model_path

MAX_ARCHIVE_BYTES = 8 * 1024 * 1024


def test_archive_is_small() -> None:
    assert ARCHIVE.stat().st_size < MAX_ARCHIVE_BYTES


def test_unpacks_into_gossamer_home_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOSSAMER_HOME", str(tmp_path))
    first = model_path()
    assert first == tmp_path / "models" / TINY_MODEL_NAME
    assert {"config.json", "model.safetensors", "generation_config.json"} <= {p.name for p in first.iterdir()}
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    assert model_path() == first
    assert (first / "model.safetensors").stat().st_mtime_ns == mtime  # not unpacked again
    assert not [p for p in (tmp_path / "models").iterdir() if p.name != TINY_MODEL_NAME]  # no staging left


def test_damaged_unpack_is_repaired(tmp_path: Path) -> None:
    target = model_path(tmp_path)
    (target / "model.safetensors").unlink()
    assert model_path(tmp_path) == target
    assert (target / "model.safetensors").is_file()


def test_is_a_gpt_oss_checkpoint(tiny_dir: Path) -> None:
    config = load_config(tiny_dir)
    raw = json.loads((tiny_dir / "config.json").read_text())
    assert raw["model_type"] == "gpt_oss" and raw["quantization_config"]["quant_method"] == "mxfp4"
    assert raw["rope_scaling"]["rope_type"] == "yarn"
    assert config.num_layers >= 4 and config.num_experts >= 4 and config.vocab_size == 201088
    assert "sliding_attention" in config.layer_types and "full_attention" in config.layer_types
    with safe_open(tiny_dir / "model.safetensors", "pt") as f:
        names = set(f.keys())
        blocks = f.get_tensor("model.layers.0.mlp.experts.gate_up_proj_blocks")
        down = f.get_tensor("model.layers.0.mlp.experts.down_proj_blocks")
    e, i2, h = config.num_experts, 2 * config.intermediate_size, config.hidden_size
    assert tuple(blocks.shape) == (e, i2, h // 32, 16)
    assert tuple(down.shape) == (e, h, config.intermediate_size // 32, 16)
    assert "model.layers.0.self_attn.sinks" in names and "lm_head.weight" in names


def test_unpacks_without_extraction_filters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian 12's Python 3.11.2 predates tarfile's extraction filters (3.11.4)."""
    import tarfile

    monkeypatch.delattr(tarfile, "data_filter", raising=False)  # absent before 3.11.4 anyway
    target = model_path(tmp_path)
    assert (target / "model.safetensors").is_file() and (target / "config.json").is_file()
