"""The fused MoE block (one kernel call per layer for bf16 models) against the block's own steps."""

from __future__ import annotations

import pytest
import torch

from gossamer import kernels
from gossamer.kernels.moe import block_forward
from gossamer.model.config import ModelConfig
from gossamer.model.loader import load_model
from gossamer.testing.checkpoint import write_checkpoint

CONFIG = ModelConfig(num_layers=2, num_experts=8, experts_per_token=4, vocab_size=512, hidden_size=96,
                     intermediate_size=160, head_dim=16, num_heads=4, num_kv_heads=2, sliding_window=8)


@pytest.fixture(scope="module")
def bf16_model(tmp_path_factory):
    path = write_checkpoint(tmp_path_factory.mktemp("moe") / "ckpt", CONFIG, layout="original", seed=6)
    return load_model(path, dtype=torch.bfloat16)


@pytest.mark.parametrize("precision", ["exact", "int8"])
@pytest.mark.parametrize("num_tokens", [1, 3, 37])
@torch.inference_mode()
def test_fused_block_matches_the_blocks_steps(isas, bf16_model, precision, num_tokens):
    if kernels.set_experts_precision(precision) != precision:
        pytest.skip(f"{precision} experts cannot run here")
    block = bf16_model.blocks[1].mlp
    assert block.block_impl is block_forward  # the loader installed it for a bf16 model
    x = torch.randn(num_tokens, CONFIG.hidden_size, generator=torch.Generator().manual_seed(num_tokens)) * 4
    fused = block(x)  # [N, hidden]
    steps = block.steps(x)  # norm, router, experts_forward: the same kernels, step by step
    assert fused.dtype == torch.float32 and fused.shape == x.shape
    # Same roundings; only float32 summation order in the norm may differ.
    assert (fused - steps).abs().max().item() <= 1e-3 * steps.abs().max().item()


def test_choosing_other_products_turns_the_fused_block_off(isas, bf16_model):
    from gossamer.kernels.dense import linear_impl
    from gossamer.kernels.integrate import use_cpu_kernels
    from gossamer.kernels.moe import experts_forward

    bf16_model.set_experts_impl(experts_forward)
    assert all(block.mlp.block_impl is None for block in bf16_model.blocks)
    assert use_cpu_kernels(bf16_model)
    bf16_model.set_linear_impl(linear_impl)
    assert all(block.mlp.block_impl is None for block in bf16_model.blocks)
    assert use_cpu_kernels(bf16_model)
    assert all(block.mlp.block_impl is block_forward for block in bf16_model.blocks)


def test_float32_models_keep_the_step_by_step_block(isas, tmp_path):
    path = write_checkpoint(tmp_path / "f32", CONFIG, layout="original", seed=6)
    model = load_model(path, dtype=torch.float32)
    assert model.blocks[0].mlp.experts_impl is not None and model.blocks[0].mlp.block_impl is None


def test_bad_arguments_are_refused(isas, bf16_model):
    block = bf16_model.blocks[0].mlp
    with pytest.raises(ValueError, match="router_weight"):
        kernels.ops.moe_block_bf16(torch.zeros(1, CONFIG.hidden_size), block.norm.scale, 1e-5,
                                   block.gate.weight.float(), block.gate.bias, 4, block.mlp1_blocks,
                                   block.mlp1_scales, block.mlp1_bias, block.mlp2_blocks, block.mlp2_scales,
                                   block.mlp2_bias, 7.0)
