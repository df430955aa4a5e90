"""Checkpoint facts from headers alone: parameter counts, quantization, completeness."""

from __future__ import annotations

import pytest

from gossamer.errors import CheckpointError
from gossamer.hub.inspect import TensorInfo, check_complete, count_params, describe_model
from gossamer.model.config import PRESETS, ModelConfig
from tests.cli.small_checkpoint import write_small_checkpoint


def hf_layout_tensors(c: ModelConfig) -> list[TensorInfo]:
    """The tensor list of a published HF-layout checkpoint of config `c` (MXFP4 experts)."""
    h, i, e, v = c.hidden_size, c.intermediate_size, c.num_experts, c.vocab_size
    out = [
        TensorInfo("model.embed_tokens.weight", "BF16", (v, h)),
        TensorInfo("lm_head.weight", "BF16", (v, h)),
        TensorInfo("model.norm.weight", "BF16", (h,)),
    ]
    for n in range(c.num_layers):
        p = f"model.layers.{n}."
        out += [
            TensorInfo(p + "input_layernorm.weight", "BF16", (h,)),
            TensorInfo(p + "post_attention_layernorm.weight", "BF16", (h,)),
            TensorInfo(p + "self_attn.q_proj.weight", "BF16", (c.q_size, h)),
            TensorInfo(p + "self_attn.q_proj.bias", "BF16", (c.q_size,)),
            TensorInfo(p + "self_attn.k_proj.weight", "BF16", (c.kv_size, h)),
            TensorInfo(p + "self_attn.k_proj.bias", "BF16", (c.kv_size,)),
            TensorInfo(p + "self_attn.v_proj.weight", "BF16", (c.kv_size, h)),
            TensorInfo(p + "self_attn.v_proj.bias", "BF16", (c.kv_size,)),
            TensorInfo(p + "self_attn.o_proj.weight", "BF16", (h, c.q_size)),
            TensorInfo(p + "self_attn.o_proj.bias", "BF16", (h,)),
            TensorInfo(p + "self_attn.sinks", "BF16", (c.num_heads,)),
            TensorInfo(p + "mlp.router.weight", "BF16", (e, h)),
            TensorInfo(p + "mlp.router.bias", "BF16", (e,)),
            TensorInfo(p + "mlp.experts.gate_up_proj_blocks", "U8", (e, 2 * i, h // 32, 16)),
            TensorInfo(p + "mlp.experts.gate_up_proj_scales", "U8", (e, 2 * i, h // 32)),
            TensorInfo(p + "mlp.experts.gate_up_proj_bias", "BF16", (e, 2 * i)),
            TensorInfo(p + "mlp.experts.down_proj_blocks", "U8", (e, h, i // 32, 16)),
            TensorInfo(p + "mlp.experts.down_proj_scales", "U8", (e, h, i // 32)),
            TensorInfo(p + "mlp.experts.down_proj_bias", "BF16", (e, h)),
        ]
    return out


@pytest.mark.parametrize(("preset", "total_b", "active_b"), [("20b", 20.9, 3.6), ("120b", 116.8, 5.1)])
def test_parameter_counts_match_the_model_card(preset, total_b, active_b):
    config = PRESETS[preset]
    total, active = count_params(hf_layout_tensors(config), config)
    assert round(total / 1e9, 1) == total_b
    assert round(active / 1e9, 1) == active_b


def test_describe_a_checkpoint_from_its_headers(tmp_path):
    from gossamer.testing.checkpoint import write_checkpoint

    path = write_checkpoint(tmp_path / "m", PRESETS["tiny"], layout="hf")
    summary = describe_model(path)
    assert summary.layout == "hf"
    assert summary.quantization == "MXFP4 experts, bf16 elsewhere"
    assert summary.context_length == 131072
    config = PRESETS["tiny"]
    assert summary.num_params == count_params(hf_layout_tensors(config), config)[0]
    patterns = {p for p, *_ in summary.tensor_groups}
    assert "model.layers.N.mlp.experts.gate_up_proj_blocks" in patterns

    original = describe_model(write_checkpoint(tmp_path / "o", PRESETS["tiny"], layout="original"))
    assert original.layout == "original"
    assert original.num_params == summary.num_params
    assert original.num_active_params == summary.num_active_params
    assert original.quantization == summary.quantization


def test_check_complete_names_what_is_wrong(tmp_path):
    model = write_small_checkpoint(tmp_path / "m")
    check_complete(model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        check_complete(model)
    weights.unlink()
    with pytest.raises(CheckpointError, match="no \\*\\.safetensors"):
        check_complete(model)
    (model / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"no config\.json"):
        check_complete(model)
