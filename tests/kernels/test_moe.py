"""The kernel MoE path (gossamer.kernels.moe) against a float32 oracle written from the model card.

float32 model: every step is float32 on both sides, so only summation order differs (bound 1e-3).
bf16 model: both sides round the SwiGLU output to bf16 before mlp2; where the two float32 sums
differ in their last bit that rounding can land one bf16 ulp (2**-8 relative) apart, so the bound
is relative to the output's scale: max abs diff <= 1e-2 * max |out|.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gossamer.model.config import ModelConfig
from gossamer.model.moe import MLPBlock, swiglu
from gossamer.model.mxfp4 import dequantize, quantize

CONFIG = ModelConfig(num_layers=1, num_experts=8, experts_per_token=4, hidden_size=96, intermediate_size=160,
                     head_dim=16, num_heads=4, num_kv_heads=2, vocab_size=256)


def _block(dtype: torch.dtype, seed: int = 0) -> MLPBlock:
    gen = torch.Generator().manual_seed(seed)
    block = MLPBlock(CONFIG, packed_experts=True)
    e, inter, hidden = CONFIG.num_experts, CONFIG.intermediate_size, CONFIG.hidden_size
    w1 = torch.randn(e, 2 * inter, hidden, generator=gen) * hidden**-0.5
    w2 = torch.randn(e, hidden, inter, generator=gen) * inter**-0.5
    block.mlp1_blocks, block.mlp1_scales = quantize(w1)
    block.mlp2_blocks, block.mlp2_scales = quantize(w2)
    block.mlp1_bias = torch.randn(e, 2 * inter, generator=gen).to(dtype)
    block.mlp2_bias = torch.randn(e, hidden, generator=gen).to(dtype)
    block.gate.weight.data = torch.randn(e, hidden, generator=gen)
    block.gate.bias.data = torch.randn(e, generator=gen)
    return block.to(dtype)


def _oracle(block: MLPBlock, t: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(t.shape[0], CONFIG.hidden_size)
    for n in range(t.shape[0]):
        for slot in range(ids.shape[1]):
            e = int(ids[n, slot])
            w1 = dequantize(block.mlp1_blocks[e], block.mlp1_scales[e], torch.float32)  # [2I, H]
            w2 = dequantize(block.mlp2_blocks[e], block.mlp2_scales[e], torch.float32)  # [H, I]
            h = F.linear(t[n].float(), w1, block.mlp1_bias[e].float())  # [2I]
            h = swiglu(h, CONFIG.swiglu_limit).to(t.dtype).float()  # [I]
            out[n] += weights[n, slot] * F.linear(h, w2, block.mlp2_bias[e].float())
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("num_tokens", [1, 3, 19])
def test_experts_forward_matches_oracle(isas, dtype, num_tokens):
    from gossamer.kernels.moe import experts_forward

    block = _block(dtype)
    gen = torch.Generator().manual_seed(num_tokens)
    t = torch.randn(num_tokens, CONFIG.hidden_size, generator=gen).to(dtype)  # [N, H]
    ids, weights = block.route(t)  # [N, k], [N, k]
    got = experts_forward(block, t, ids, weights)
    want = _oracle(block, t, ids, weights)
    assert got.shape == (num_tokens, CONFIG.hidden_size) and got.dtype == torch.float32
    bound = 1e-3 if dtype == torch.float32 else 1e-2 * want.abs().max().item()
    assert (got - want).abs().max().item() <= bound
