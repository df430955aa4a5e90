"""The input side of a bf16 attention block (norm, qkv projection, RoPE) through one kernel call.

`qkv_forward` has the model's QkvImpl signature (GptOss.set_attention_qkv_impl) and computes what
AttentionBlock.qkv_rotated computes, with the same bf16 roundings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from gossamer.kernels.ops import QKV_MAX_HEAD_DIM, qkv_block_bf16

if TYPE_CHECKING:
    from gossamer.model.gpt_oss import AttentionBlock
    from gossamer.model.rope import Rotation


def fused_qkv_supported(block: AttentionBlock) -> bool:
    """Whether `qkv_forward` can run this block: bf16 weights on the CPU, an even head size."""
    weight, bias, scale = block.qkv.weight, block.qkv.bias, block.norm.scale
    return (
        weight.dtype == torch.bfloat16
        and bias is not None
        and bias.dtype == torch.bfloat16
        and scale.dtype == torch.float32
        and block.head_dim % 2 == 0
        and block.head_dim <= QKV_MAX_HEAD_DIM
        and all(t.device.type == "cpu" and t.is_contiguous() for t in (weight, bias, scale))
    )


def qkv_forward(
    block: AttentionBlock, x: torch.Tensor, rotation: Rotation
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # q [N, H, D], k and v [N, KV, D] bf16
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return block.qkv_rotated(x, rotation)
    return qkv_block_bf16(x.contiguous(), block.norm.scale, block.norm.eps, block.qkv.weight, block.qkv.bias,
                          block.num_heads, block.num_kv_heads, rotation.cos, rotation.sin)
