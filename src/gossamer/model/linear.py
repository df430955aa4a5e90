"""The seam for dense products: a model layer's `x @ W.T + b` through a faster implementation.

`GptOss.set_linear_impl` installs one (gossamer.kernels' few-row CPU kernel); None keeps
`nn.Linear`, the reference.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

# (x [N, C], weight [R, C], bias [R] | None) -> [N, R]: a replacement for F.linear, e.g. a
# matrix-vector kernel for decode. Its result is cast back to the model dtype where needed.
LinearImpl = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def project(layer: nn.Linear, t: torch.Tensor, impl: LinearImpl | None) -> torch.Tensor:
    """layer(t) through `impl` when set, rounded back to t's dtype as nn.Linear would return it."""
    if impl is None:
        return layer(t)
    return impl(t, layer.weight, layer.bias).to(t.dtype)
