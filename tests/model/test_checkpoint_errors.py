"""A malformed checkpoint gives a CheckpointError naming the file and the tensor or field."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from gossamer.errors import CheckpointError
from gossamer.model.config import ModelConfig
from gossamer.model.loader import load_model, load_model_config
from gossamer.testing.checkpoint import write_checkpoint

SMALL = ModelConfig(
    num_layers=2, num_experts=4, experts_per_token=2, vocab_size=256, hidden_size=64,
    intermediate_size=64, head_dim=16, num_heads=4, num_kv_heads=2, sliding_window=8,
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pristine")
    return {
        "original": write_checkpoint(root / "original", SMALL, layout="original"),
        "hf": write_checkpoint(root / "hf", SMALL, layout="hf", max_shard_bytes=200_000),
    }


@pytest.fixture
def checkpoint(pristine, tmp_path):
    """A fresh copy to damage: checkpoint(layout) -> dir."""

    def copy(layout: str) -> Path:
        return Path(shutil.copytree(pristine[layout], tmp_path / layout))

    return copy


def rewrite(path: Path, edit) -> None:
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def expect_error(model_dir: Path, *fragments: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_model(model_dir, dtype=torch.float32)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def shard_of(model_dir: Path, name: str) -> Path:
    weight_map = json.loads((model_dir / "model.safetensors.index.json").read_text())["weight_map"]
    return model_dir / weight_map[name]


def test_pristine_checkpoints_load(pristine):
    for path in pristine.values():
        assert load_model(path, dtype=torch.float32).config == SMALL


def test_missing_tensor_original(checkpoint):
    model_dir = checkpoint("original")
    rewrite(model_dir / "model.safetensors", lambda t: t.pop("block.1.attn.sinks"))
    expect_error(model_dir, "missing tensor 'block.1.attn.sinks'", "model.safetensors")


def test_missing_tensor_hf_index_lists_it_but_shard_lacks_it(checkpoint):
    model_dir = checkpoint("hf")
    name = "model.layers.1.mlp.router.bias"
    shard = shard_of(model_dir, name)
    rewrite(shard, lambda t: t.pop(name))
    expect_error(model_dir, f"missing tensor '{name}'", shard.name)


def test_missing_tensor_hf_absent_from_index(checkpoint):
    model_dir = checkpoint("hf")
    index_path = model_dir / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    del index["weight_map"]["lm_head.weight"]
    index_path.write_text(json.dumps(index))
    expect_error(model_dir, "missing tensor 'lm_head.weight'")


def test_missing_shard(checkpoint):
    model_dir = checkpoint("hf")
    shard = shard_of(model_dir, "model.norm.weight")
    shard.unlink()
    expect_error(model_dir, shard.name, "missing")


def test_wrong_shape(checkpoint):
    model_dir = checkpoint("original")

    def edit(t):
        t["block.0.attn.qkv.weight"] = t["block.0.attn.qkv.weight"][:, :32].contiguous()

    rewrite(model_dir / "model.safetensors", edit)
    message = expect_error(model_dir, "block.0.attn.qkv.weight", "model.safetensors", "shape")
    assert "[128, 32]" in message and "[128, 64]" in message


def test_wrong_dtype_packed_experts_as_floats(checkpoint):
    model_dir = checkpoint("hf")
    name = "model.layers.0.mlp.experts.down_proj_scales"
    shard = shard_of(model_dir, name)

    def edit(t):
        t[name] = t[name].float()

    rewrite(shard, edit)
    expect_error(model_dir, name, shard.name, "dtype F32", "expected U8")


def test_wrong_dtype_integer_weights(checkpoint):
    model_dir = checkpoint("original")

    def edit(t):
        t["unembedding.weight"] = t["unembedding.weight"].to(torch.int32)

    rewrite(model_dir / "model.safetensors", edit)
    expect_error(model_dir, "unembedding.weight", "model.safetensors", "dtype I32")


@pytest.mark.parametrize("layout", ["original", "hf"])
def test_truncated_file(checkpoint, layout):
    model_dir = checkpoint(layout)
    path = max(model_dir.glob("*.safetensors"), key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    message = expect_error(model_dir, path.name, "truncated")
    assert re.search(r"tensor '[^']+'", message), message


def test_truncated_header(checkpoint):
    model_dir = checkpoint("original")
    path = model_dir / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    expect_error(model_dir, "model.safetensors", "truncated")


@pytest.mark.parametrize(
    ("layout", "field"),
    [("original", "hidden_size"), ("original", "num_experts"), ("hf", "num_local_experts")],
)
def test_missing_config_field(checkpoint, layout, field):
    model_dir = checkpoint(layout)
    raw = json.loads((model_dir / "config.json").read_text())
    del raw[field]
    (model_dir / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match=rf"config\.json: missing field '{field}'"):
        load_model_config(model_dir)
    expect_error(model_dir, "config.json", field)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("num_key_value_heads", 3, "num_attention_heads"),
        ("hidden_size", -64, "hidden_size"),
        ("experts_per_token", 9, "experts_per_token"),
        ("rope_theta", "big", "rope_theta"),
    ],
)
def test_impossible_config_field(checkpoint, field, value, named):
    model_dir = checkpoint("original")
    raw = json.loads((model_dir / "config.json").read_text())
    raw[field] = value
    (model_dir / "config.json").write_text(json.dumps(raw))
    expect_error(model_dir, "config.json", f"'{named}'")


def test_config_not_json(checkpoint):
    model_dir = checkpoint("hf")
    (model_dir / "config.json").write_text("{not json")
    expect_error(model_dir, "config.json", "not valid JSON")


def test_not_a_gpt_oss_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMALL.to_original_json()))
    save_file({"transformer.wte.weight": torch.zeros(4, 4)}, tmp_path / "model.safetensors")
    expect_error(tmp_path, "neither the original")


def test_missing_directory_and_weights(tmp_path):
    expect_error(tmp_path / "nope", "not found")
    (tmp_path / "config.json").write_text(json.dumps(SMALL.to_original_json()))
    expect_error(tmp_path, "no .safetensors")
