"""The gpt-oss transformer: embedding, alternating sliding/full attention blocks with sinks, MoE.

    x = embedding(ids)
    for each block:  x += attn(rmsnorm(x));  x += moe(rmsnorm(x))
    hidden = rmsnorm(x);  logits = unembedding(hidden)   (untied, no bias, no soft-cap)

Tokens are a flat [N] batch with explicit positions; where keys and values live is the
AttentionBackend's business (full sequence, a contiguous cache, or the engine's paged cache).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gossamer.model.backend import AttentionBackend
from gossamer.model.config import ModelConfig
from gossamer.model.linear import LinearImpl, project
from gossamer.model.moe import BlockImpl, ExpertsImpl, MLPBlock
from gossamer.model.norm import RMSNorm
from gossamer.model.rope import RotaryEmbedding, Rotation

# (block, x [N, hidden] float32 residual, rotation) -> q [N, H, D], k and v [N, KV, D] in the model
# dtype: the norm, qkv projection and RoPE in one call (e.g. gossamer.kernels' fused CPU path).
QkvImpl = Callable[
    ["AttentionBlock", torch.Tensor, Rotation], tuple[torch.Tensor, torch.Tensor, torch.Tensor]
]


class AttentionBlock(nn.Module):
    """Pre-norm attention with one fused qkv projection; returns the residual update."""

    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.num_heads, self.num_kv_heads = config.num_heads, config.num_kv_heads
        self.head_dim = config.head_dim
        # Sliding window on every other layer (config.layer_types says which).
        self.sliding_window = config.sliding_window if config.is_sliding(layer) else None
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.qkv = nn.Linear(config.hidden_size, config.q_size + 2 * config.kv_size)
        self.register_buffer("sinks", torch.empty(config.num_heads, dtype=torch.float32))
        self.out = nn.Linear(config.q_size, config.hidden_size)
        self.linear_impl: LinearImpl | None = None  # see GptOss.set_linear_impl
        self.qkv_impl: QkvImpl | None = None  # see GptOss.set_attention_qkv_impl

    def qkv_rotated(
        self, x: torch.Tensor, rotation: Rotation
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # q [N, H, D], k and v [N, KV, D]
        num_tokens = x.shape[0]
        t = self.norm(x).to(self.qkv.weight.dtype)  # [N, hidden]
        qkv = project(self.qkv, t, self.linear_impl)  # [N, q_size + 2 * kv_size]
        q_size, kv_size = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        q = qkv[:, :q_size].view(num_tokens, self.num_heads, self.head_dim)  # [N, H, D]
        k = qkv[:, q_size : q_size + kv_size].view(num_tokens, self.num_kv_heads, self.head_dim)  # [N, KV, D]
        v = qkv[:, q_size + kv_size :].reshape(num_tokens, self.num_kv_heads, self.head_dim)  # [N, KV, D]
        q, k = rotation(q, k)
        return q, k, v.contiguous()

    def forward(
        self, x: torch.Tensor, rotation: Rotation, backend: AttentionBackend
    ) -> torch.Tensor:  # x: [N, hidden]
        num_tokens = x.shape[0]
        if self.qkv_impl is not None:
            q, k, v = self.qkv_impl(self, x, rotation)
        else:
            q, k, v = self.qkv_rotated(x, rotation)
        o = backend.attend(self.layer, q, k, v, self.sinks, self.sliding_window)  # [N, H, D]
        q_size = self.num_heads * self.head_dim
        return project(self.out, o.reshape(num_tokens, q_size), self.linear_impl)  # [N, hidden]


class TransformerBlock(nn.Module):
    def __init__(self, config: ModelConfig, layer: int, packed_experts: bool = True) -> None:
        super().__init__()
        self.attn = AttentionBlock(config, layer)
        self.mlp = MLPBlock(config, packed_experts)

    def forward(
        self, x: torch.Tensor, rotation: Rotation, backend: AttentionBackend
    ) -> torch.Tensor:  # x: [N, hidden] float32 residual stream
        x = x + self.attn(x, rotation, backend).float()
        return x + self.mlp(x).float()


class GptOss(nn.Module):
    def __init__(self, config: ModelConfig, packed_experts: bool = True) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.rope = RotaryEmbedding(config)
        self.blocks = nn.ModuleList(
            TransformerBlock(config, i, packed_experts) for i in range(config.num_layers)
        )
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.unembedding = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.requires_grad_(False)  # inference only
        self.linear_impl: LinearImpl | None = None

    def set_linear_impl(self, impl: LinearImpl | None) -> None:
        """Compute the attention projections, the routers and the unembedding with `impl` (None: F.linear).

        Turns off the fused MoE block and qkv implementations, which would bypass `impl`."""
        self.linear_impl = impl
        for block in self.blocks:
            block.attn.linear_impl = impl
            block.mlp.linear_impl = impl
            block.mlp.block_impl = None
            block.attn.qkv_impl = None

    def set_experts_impl(self, impl: ExpertsImpl | None) -> None:
        """Route every MoE block's expert products through `impl` (None: the torch reference).

        Turns off a whole-block MoE implementation, which would bypass `impl`."""
        for block in self.blocks:
            block.mlp.experts_impl = impl
            block.mlp.block_impl = None

    def set_attention_qkv_impl(self, impl: QkvImpl | None) -> None:
        """Compute every attention block's norm, qkv projection and RoPE with `impl` (None: the steps)."""
        for block in self.blocks:
            block.attn.qkv_impl = impl

    def set_moe_block_impl(self, impl: BlockImpl | None) -> None:
        """Run every MoE block (norm, router, experts) through `impl` (None: forward's own steps)."""
        for block in self.blocks:
            block.mlp.block_impl = impl

    @property
    def dtype(self) -> torch.dtype:
        return self.embedding.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def forward(
        self, input_ids: torch.Tensor, positions: torch.Tensor, backend: AttentionBackend
    ) -> torch.Tensor:
        """input_ids [N], positions [N] -> final-normed hidden states [N, hidden]."""
        assert input_ids.dim() == 1 and positions.shape == input_ids.shape, (input_ids.shape, positions.shape)
        # The residual stream is kept in float32 (the blocks compute in the model dtype): it costs
        # little and stops bf16 rounding from accumulating over the layers.
        x = self.embedding(input_ids).float()  # [N, hidden]
        rotation = self.rope.at(positions)  # once per pass: every layer rotates by the same positions
        for block in self.blocks:
            x = block(x, rotation, backend)
        return self.norm(x).to(self.dtype)  # [N, hidden]

    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [M, hidden] -> float32 logits [M, vocab]; call it only where tokens are sampled."""
        if self.linear_impl is not None:
            return self.linear_impl(hidden, self.unembedding.weight, None).float()  # [M, vocab]
        return F.linear(hidden, self.unembedding.weight).float()  # [M, vocab]
