"""Few-row dense products (decode projections, sampled logits) through the kernel, else torch.

torch's one-row `F.linear` reaches only part of the memory bandwidth on CPU, while its matrix
multiply is good once there are many rows (prefill); so the kernel takes the few-row case only.
`linear_impl` has the model's LinearImpl signature (GptOss.set_linear_impl).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gossamer.kernels.ops import available, linear

# Up to this many rows the kernel streams the weights once for all of them and beats torch.
MAX_KERNEL_ROWS = 16


def use_kernel(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dim() == 2
        and x.shape[0] <= MAX_KERNEL_ROWS
        and weight.dtype in (torch.bfloat16, torch.float32)
        and weight.is_contiguous()
        and available()
    )


def linear_impl(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x [N, C] @ weight [R, C].T + bias -> [N, R]: float32 from the kernel (few rows on the CPU),
    else F.linear in x's dtype. The model casts projections back to its dtype; logits stay float32."""
    if use_kernel(x, weight):
        return linear(x, weight, bias)
    return F.linear(x, weight, bias)
