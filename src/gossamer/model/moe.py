"""The mixture-of-experts MLP: top-k router, clamped SwiGLU experts, MXFP4 weights kept packed.

Packed, a 20b model's experts take ~12 GB; expanded to bf16 they would take ~40 GB. So the
expert weights stay as MXFP4 blocks/scales and only the experts a token batch selects are
dequantized, one at a time, right before their matmuls.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gossamer.model import mxfp4
from gossamer.model.config import ModelConfig
from gossamer.model.linear import LinearImpl, project
from gossamer.model.norm import RMSNorm

SWIGLU_ALPHA = 1.702

# (block, t [N, hidden], expert ids [N, k], expert weights [N, k] float32) -> float32 [N, hidden]
ExpertsImpl = Callable[["MLPBlock", torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# (block, x [N, hidden] float32 residual) -> float32 [N, hidden]: the whole block (norm, router,
# experts) in one call, e.g. gossamer.kernels' fused CPU block.
BlockImpl = Callable[["MLPBlock", torch.Tensor], torch.Tensor]


def swiglu(x: torch.Tensor, limit: float) -> torch.Tensor:
    """x [T, 2I] with gate on even and linear on odd columns -> [T, I]."""
    gate, linear = x[..., ::2], x[..., 1::2]  # [T, I] each
    gate = gate.clamp(max=limit)
    linear = linear.clamp(min=-limit, max=limit)
    # The "+1" on the linear half is gpt-oss's own (extra bias of 1).
    return gate * torch.sigmoid(SWIGLU_ALPHA * gate) * (linear + 1)


class MLPBlock(nn.Module):
    """Pre-norm MoE block; returns the float32 residual update (the caller adds it)."""

    def __init__(self, config: ModelConfig, packed_experts: bool = True) -> None:
        super().__init__()
        self.num_experts = config.num_experts
        self.experts_per_token = config.experts_per_token
        self.swiglu_limit = config.swiglu_limit
        self.packed_experts = packed_experts
        hidden, inter, num_experts = config.hidden_size, config.intermediate_size, config.num_experts
        e = num_experts
        self.norm = RMSNorm(hidden, config.rms_norm_eps)
        self.gate = nn.Linear(hidden, num_experts)  # the router
        # mlp1 rows interleave gate (even) and linear (odd) outputs, as the original checkpoint does.
        if packed_experts:
            u8 = torch.uint8
            self.register_buffer("mlp1_blocks", torch.empty(e, 2 * inter, hidden // 32, 16, dtype=u8))
            self.register_buffer("mlp1_scales", torch.empty(num_experts, 2 * inter, hidden // 32, dtype=u8))
            self.register_buffer("mlp2_blocks", torch.empty(num_experts, hidden, inter // 32, 16, dtype=u8))
            self.register_buffer("mlp2_scales", torch.empty(num_experts, hidden, inter // 32, dtype=u8))
        else:
            self.register_buffer("mlp1_weight", torch.empty(num_experts, 2 * inter, hidden))
            self.register_buffer("mlp2_weight", torch.empty(num_experts, hidden, inter))
        self.register_buffer("mlp1_bias", torch.empty(num_experts, 2 * inter))
        self.register_buffer("mlp2_bias", torch.empty(num_experts, hidden))
        # A faster expert computation (e.g. gossamer.kernels' grouped MXFP4 products) may replace
        # `experts()`; the torch path below stays the reference it is tested against.
        self.experts_impl: ExpertsImpl | None = None
        self.linear_impl: LinearImpl | None = None  # the router's product (GptOss.set_linear_impl)
        # Replaces forward() entirely when set (GptOss.set_moe_block_impl).
        self.block_impl: BlockImpl | None = None

    def expert_weights(self, expert: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Expert's mlp1 [2I, hidden] and mlp2 [hidden, I] weights in `dtype`."""
        if self.packed_experts:
            w1 = mxfp4.dequantize(self.mlp1_blocks[expert], self.mlp1_scales[expert], dtype)
            w2 = mxfp4.dequantize(self.mlp2_blocks[expert], self.mlp2_scales[expert], dtype)
            return w1, w2
        return self.mlp1_weight[expert].to(dtype), self.mlp2_weight[expert].to(dtype)

    def route(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """t [N, hidden] -> expert ids [N, k] and their weights [N, k] (softmax over the k chosen)."""
        logits = project(self.gate, t, self.linear_impl)  # [N, E]
        top = torch.topk(logits, self.experts_per_token, dim=-1)  # sorted, like both references
        return top.indices, torch.softmax(top.values.float(), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [N, hidden]
        if self.block_impl is not None:
            return self.block_impl(self, x)
        return self.steps(x)

    def steps(self, x: torch.Tensor) -> torch.Tensor:  # x: [N, hidden]
        """The block step by step: norm, router, experts (through experts_impl when set)."""
        t = self.norm(x).to(self.gate.weight.dtype)  # [N, hidden] in the model dtype
        expert_ids, expert_weights = self.route(t)  # [N, k], [N, k]
        if self.experts_impl is not None:
            return self.experts_impl(self, t, expert_ids, expert_weights)
        return self.experts(t, expert_ids, expert_weights)

    def experts(
        self, t: torch.Tensor, expert_ids: torch.Tensor, expert_weights: torch.Tensor
    ) -> torch.Tensor:
        """The router-weighted sum of the chosen experts' outputs: float32 [N, hidden]."""
        out = torch.zeros_like(t, dtype=torch.float32)  # [N, hidden]
        for expert in torch.unique(expert_ids).tolist():
            token_idx, slot = torch.nonzero(expert_ids == expert, as_tuple=True)  # [T], [T]
            w1, w2 = self.expert_weights(expert, t.dtype)
            h = F.linear(t[token_idx], w1, self.mlp1_bias[expert])  # [T, 2I]
            h = swiglu(h, self.swiglu_limit)  # [T, I]
            y = F.linear(h, w2, self.mlp2_bias[expert])  # [T, hidden]
            out.index_add_(0, token_idx, y.float() * expert_weights[token_idx, slot, None])
        return out  # float32: it joins the float32 residual stream
