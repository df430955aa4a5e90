"""Dense products (projections, router, unembedding) through the kernel, for any number of rows.

The kernel streams the weights once for a few rows (decode) and blocks over rows and tokens
for many (prefill, big batches), and it computes every output the same way in both: one float32
accumulator over the columns in order. So a token's projections do not depend on how many other
rows share its step, which torch's matmul (whose blocking follows the shape) does not promise.
`linear_impl` has the model's LinearImpl signature (GptOss.set_linear_impl).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gossamer.kernels.ops import available, linear


def use_kernel(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dim() == 2
        and weight.dtype in (torch.bfloat16, torch.float32)
        and weight.is_contiguous()
        and available()
    )


def linear_impl(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x [N, C] @ weight [R, C].T + bias -> [N, R]: float32 from the kernel on the CPU, else F.linear
    in x's dtype. The model casts projections back to its dtype; logits stay float32."""
    if use_kernel(x, weight):
        return linear(x, weight, bias)
    return F.linear(x, weight, bias)
