"""The MoE experts of one layer through the MXFP4 kernel: one call for mlp1, one for mlp2.

The pure-torch MLPBlock expands each selected expert to the model dtype before its matmuls; here
the token slots are sorted by expert so that a single grouped kernel call streams each selected
expert's packed weights once, for all the tokens routed to it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gossamer.kernels.ops import moe_block_bf16, mxfp4_grouped
from gossamer.model.moe import MLPBlock, swiglu


def experts_forward(
    block: MLPBlock,
    t: torch.Tensor,  # [N, hidden] normed activations
    expert_ids: torch.Tensor,  # [N, k] from the router
    expert_weights: torch.Tensor,  # [N, k] float32, softmax over the k chosen
) -> torch.Tensor:  # [N, hidden] float32: the router-weighted sum of expert outputs
    num_tokens, top_k = expert_ids.shape
    flat_ids = expert_ids.reshape(-1)  # [N*k], slot s belongs to token s // k
    if num_tokens == 1:
        # Decode: k distinct experts, one slot each; skip the sort.
        group_experts, order = flat_ids, None
        group_offsets = torch.arange(top_k + 1, dtype=torch.int64)  # [k + 1]
        x = t.expand(top_k, -1)  # [k, hidden]
    else:
        sorted_ids, order = torch.sort(flat_ids, stable=True)  # [N*k]
        group_experts, counts = torch.unique_consecutive(sorted_ids, return_counts=True)  # [G], [G]
        group_offsets = F.pad(counts.cumsum(0), (1, 0))  # [G + 1]
        x = t[order // top_k]  # [N*k, hidden], rows grouped by expert
    h = mxfp4_grouped(x, block.mlp1_blocks, block.mlp1_scales, block.mlp1_bias, group_experts,
                      group_offsets)  # [N*k, 2I] float32
    # Back to the model dtype between the two products, as the torch path rounds there too.
    h = swiglu(h, block.swiglu_limit).to(t.dtype)  # [N*k, I]
    y = mxfp4_grouped(h, block.mlp2_blocks, block.mlp2_scales, block.mlp2_bias, group_experts,
                      group_offsets)  # [N*k, hidden] float32
    slot_weights = expert_weights.reshape(-1).float()  # [N*k]
    if order is None:
        return (y * slot_weights[:, None]).sum(dim=0, keepdim=True)  # [1, hidden]
    y = y * slot_weights[order, None]  # [N*k, hidden]
    out = torch.zeros(num_tokens, y.shape[1], dtype=torch.float32)  # [N, hidden]
    return out.index_add_(0, order // top_k, y)


def fused_block_supported(block: MLPBlock) -> bool:
    """Whether `block_forward` can run this block: bf16 weights, packed experts, CPU, contiguous."""
    tensors = (block.gate.weight, block.gate.bias, block.mlp1_bias, block.mlp2_bias)
    if not block.packed_experts:
        return False
    packed = (block.mlp1_blocks, block.mlp1_scales, block.mlp2_blocks, block.mlp2_scales)
    return (
        all(t.dtype == torch.bfloat16 for t in tensors)
        and block.norm.scale.dtype == torch.float32
        and all(t.device.type == "cpu" and t.is_contiguous() for t in (*tensors, *packed, block.norm.scale))
    )


def block_forward(block: MLPBlock, x: torch.Tensor) -> torch.Tensor:  # x [N, hidden] float32
    """MLPBlock.forward in one kernel call: the same steps and roundings, float32 [N, hidden]."""
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return block.steps(x)  # not the kernel's case
    return moe_block_bf16(
        x.contiguous(), block.norm.scale, block.norm.eps, block.gate.weight, block.gate.bias,
        block.experts_per_token, block.mlp1_blocks, block.mlp1_scales, block.mlp1_bias,
        block.mlp2_blocks, block.mlp2_scales, block.mlp2_bias, block.swiglu_limit,
    )
