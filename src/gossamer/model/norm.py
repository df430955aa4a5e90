"""RMSNorm, computed in float32 whatever the activation dtype (as both reference ports do)."""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        # The scale stays float32 even in a bf16 model: it multiplies the float32 normalized value.
        self.register_buffer("scale", torch.ones(hidden_size, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [N, hidden]
        t = x.float()
        t = t * torch.rsqrt(t.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (t * self.scale).to(x.dtype)  # [N, hidden]
