"""The fused attention input (norm, qkv projection, RoPE in one kernel call) against the steps."""

from __future__ import annotations

import pytest
import torch

from gossamer import kernels
from gossamer.kernels.qkv import qkv_forward
from gossamer.model.config import ModelConfig
from gossamer.model.loader import load_model
from gossamer.testing.checkpoint import write_checkpoint

CONFIG = ModelConfig(num_layers=2, num_experts=4, experts_per_token=2, vocab_size=512, hidden_size=96,
                     intermediate_size=64, head_dim=32, num_heads=4, num_kv_heads=2, sliding_window=8)


@pytest.fixture(scope="module")
def bf16_model(tmp_path_factory):
    path = write_checkpoint(tmp_path_factory.mktemp("qkv") / "ckpt", CONFIG, layout="original", seed=3)
    return load_model(path, dtype=torch.bfloat16)


@pytest.mark.parametrize("num_tokens", [1, 5, 40])
@torch.inference_mode()
def test_fused_qkv_equals_the_steps(isas, bf16_model, num_tokens):
    block = bf16_model.blocks[0].attn
    assert block.qkv_impl is qkv_forward  # the loader installed it for a bf16 model
    x = torch.randn(num_tokens, CONFIG.hidden_size, generator=torch.Generator().manual_seed(num_tokens)) * 3
    rotation = bf16_model.rope.at(torch.arange(1000, 1000 + num_tokens))
    fused = qkv_forward(block, x, rotation)
    steps = block.qkv_rotated(x, rotation)
    for got, want in zip(fused, steps, strict=True):
        assert got.dtype == torch.bfloat16 and got.shape == want.shape
        # Same roundings; the norm's float32 sum may take another order, moving a rare bf16 step.
        assert (got.float() - want.float()).abs().max().item() <= 1e-2 * want.float().abs().max().item()
        assert (got == want).float().mean().item() >= 0.99


def test_other_linear_products_turn_it_off(isas, bf16_model):
    from gossamer.kernels.integrate import use_cpu_kernels

    bf16_model.set_linear_impl(None)
    assert all(block.attn.qkv_impl is None for block in bf16_model.blocks)
    assert use_cpu_kernels(bf16_model)
    assert all(block.attn.qkv_impl is qkv_forward for block in bf16_model.blocks)


def test_bad_arguments_are_refused(isas, bf16_model):
    block = bf16_model.blocks[0].attn
    rotation = bf16_model.rope.at(torch.arange(2))
    with pytest.raises(ValueError, match="cos"):
        kernels.ops.qkv_block_bf16(torch.zeros(3, CONFIG.hidden_size), block.norm.scale, 1e-5,
                                   block.qkv.weight, block.qkv.bias, 4, 2, rotation.cos, rotation.sin)
