"""Few-row dense products (decode projections, sampled logits) through the kernel, else torch.

torch's one-row `F.linear` reaches only part of the memory bandwidth on CPU, while its matrix
multiply is good once there are many rows (prefill); so the kernel takes the few-row case only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gossamer.kernels.ops import available, linear

# Up to this many rows the kernel streams the weights once for all of them and beats torch.
MAX_KERNEL_ROWS = 16


def _use_kernel(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dim() == 2
        and x.shape[0] <= MAX_KERNEL_ROWS
        and weight.dtype in (torch.bfloat16, torch.float32)
        and weight.is_contiguous()
        and available()
    )


def dense(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear(x [N, C], weight [R, C], bias) -> [N, R] in x's dtype."""
    if _use_kernel(x, weight):
        return linear(x, weight, bias).to(x.dtype)
    return F.linear(x, weight, bias)


def dense_float32(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x [N, C] @ weight.T -> float32 [N, R] (logits: no rounding to bf16 on the kernel path)."""
    if _use_kernel(x, weight):
        return linear(x, weight)
    return F.linear(x, weight).float()
