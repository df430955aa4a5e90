"""Synthetic checkpoints: same weights across layouts, sharding, bf16 experts, the CLI; and the
loader reading a random model exactly as transformers itself saves one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from gossamer.model.attention import FullSequenceBackend
from gossamer.model.config import ModelConfig, load_config
from gossamer.model.loader import load_model
from gossamer.model.safetensors_io import SafetensorsFile
from gossamer.testing.checkpoint import write_checkpoint
from tests.model.oracle import load_reference, reference_logits

SMALL = ModelConfig(
    num_layers=4, num_experts=4, experts_per_token=2, vocab_size=512, hidden_size=64,
    intermediate_size=64, head_dim=16, num_heads=4, num_kv_heads=2, sliding_window=8,
)


@torch.inference_mode()
def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(len(ids))
    return model.compute_logits(model(ids, positions, FullSequenceBackend(positions)))


def test_layouts_hold_the_same_weights(tiny_checkpoints):
    original = load_model(tiny_checkpoints["original"], dtype=torch.float32).state_dict()
    hf = load_model(tiny_checkpoints["hf"], dtype=torch.float32).state_dict()
    assert original.keys() == hf.keys()
    for name in original:
        assert torch.equal(original[name], hf[name]), name


def test_hf_layout_is_sharded_with_an_index(tiny_hf_checkpoint):
    index = json.loads((tiny_hf_checkpoint / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and all((tiny_hf_checkpoint / s).is_file() for s in shards)
    total = sum(
        info.end - info.begin
        for s in shards
        for info in SafetensorsFile(tiny_hf_checkpoint / s).tensors.values()
    )
    assert index["metadata"]["total_size"] == total
    name = "model.layers.0.mlp.experts.gate_up_proj_blocks"
    info = SafetensorsFile(tiny_hf_checkpoint / index["weight_map"][name]).tensors[name]
    assert info.dtype_name == "U8" and info.shape == (4, 128, 2, 16)  # packed: [E, 2I, H/32, 16]


def test_config_round_trips_in_both_layouts(tiny_checkpoints):
    configs = [load_config(path) for path in tiny_checkpoints.values()]
    assert configs[0] == configs[1]


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = write_checkpoint(tmp_path / "a", SMALL, seed=1)
    b = write_checkpoint(tmp_path / "b", SMALL, seed=1)
    c = write_checkpoint(tmp_path / "c", SMALL, seed=2)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_bf16_experts_in_both_layouts(tmp_path):
    ids = torch.randint(0, SMALL.vocab_size, (40,), generator=torch.Generator().manual_seed(0))
    results = []
    for layout in ("original", "hf"):
        path = write_checkpoint(tmp_path / layout, SMALL, layout=layout, experts="bf16", seed=5)
        model = load_model(path, dtype=torch.float32)
        assert not model.blocks[0].mlp.packed_experts
        results.append(logits_of(model, ids))
    assert torch.equal(results[0], results[1])
    assert results[0].std() > 0.5


def test_loads_a_random_model_saved_by_transformers(tmp_path):
    """transformers writes bf16 `gate_up_proj [E, H, 2I]` / `down_proj [E, I, H]` for a random model."""
    from transformers import GptOssConfig, GptOssForCausalLM

    raw = SMALL.to_hf_json(quantized=False)
    hf_config = GptOssConfig(**{k: v for k, v in raw.items() if k not in ("architectures", "torch_dtype")})
    torch.manual_seed(0)
    reference = GptOssForCausalLM(hf_config).to(torch.bfloat16).eval()
    with torch.no_grad():  # transformers initializes with std 0.02; larger weights make a real test
        for name, param in reference.named_parameters():
            if "norm" not in name:
                param.normal_(0, 0.3)
    reference.save_pretrained(tmp_path / "saved")
    assert not (tmp_path / "saved" / "model.safetensors.index.json").exists()  # one plain file
    model = load_model(tmp_path / "saved", dtype=torch.float32)
    assert not model.blocks[0].mlp.packed_experts
    ids = torch.randint(0, SMALL.vocab_size, (60,), generator=torch.Generator().manual_seed(1))
    # Reloaded rather than reused: `.to(bfloat16)` also rounded the in-memory RoPE frequencies.
    expected = reference_logits(load_reference(tmp_path / "saved"), ids)
    assert (logits_of(model, ids) - expected).abs().max().item() <= 1e-3


def test_cli_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "cli"
    result = subprocess.run(
        [sys.executable, "-m", "gossamer.testing.checkpoint", "--preset", "tiny", "--layout", "hf",
         "--vocab-size", "1024", "--num-layers", "3", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "wrote" in result.stderr  # progress logging
    config = load_config(out)
    assert config.vocab_size == 1024 and config.num_layers == 3
    assert config.layer_types == ("sliding_attention", "full_attention", "sliding_attention")
    load_model(out, dtype=torch.float32)


def test_cli_rejects_an_impossible_shape(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gossamer.testing.checkpoint", "--preset", "tiny", "--hidden-size", "100",
         str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "hidden_size" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("preset, gigabytes", [("20b", 13.76), ("120b", 65.3)])
def test_presets_have_the_published_sizes(preset, gigabytes):
    from gossamer.model.config import PRESETS
    from gossamer.model.weights import Layout, weight_sources
    from gossamer.testing.checkpoint import _checkpoint_specs

    sources = weight_sources(PRESETS[preset], Layout.ORIGINAL, packed_experts=True)
    total = sum(spec.nbytes for s in sources for spec in _checkpoint_specs(s, torch.bfloat16))
    assert total / 1e9 == pytest.approx(gigabytes, rel=0.01)
