"""Rotary position embedding with YaRN scaling and its attention "concentration".

gpt-oss extends a 4096-token RoPE (theta 150000) 32x with YaRN (Peng et al. 2023, arXiv 2309.00071):
dimensions that rotate fast keep their frequency (extrapolation), slow ones are divided by the
factor (interpolation), with a linear ramp between. The concentration 0.1*ln(factor)+1 multiplies
cos and sin, so it scales both q and k. The numbers follow transformers' `_compute_yarn_parameters`
(`truncate=False` in the published config, which equals the reference implementation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gossamer.model.config import ModelConfig


def yarn_inv_freq(config: ModelConfig) -> tuple[torch.Tensor, float]:
    """Inverse frequencies [head_dim/2] (float32) and the concentration factor."""
    dim = config.head_dim
    base = config.rope_theta
    factor = config.rope_scaling_factor
    # Explicit device: the model may be built under `torch.device("meta")` before loading.
    pos_freqs = base ** (torch.arange(0, dim, 2, dtype=torch.float32, device="cpu") / dim)  # [D/2]
    if factor <= 1.0:
        return 1.0 / pos_freqs, 1.0
    concentration = 0.1 * math.log(factor) + 1.0

    def correction_dim(num_rotations: float) -> float:
        # The dimension whose wavelength fits `num_rotations` times into the original context.
        wavelengths = config.initial_context_length / (num_rotations * 2 * math.pi)
        return dim * math.log(wavelengths) / (2 * math.log(base))

    low, high = correction_dim(config.rope_ntk_beta), correction_dim(config.rope_ntk_alpha)
    if config.rope_truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0.0), min(high, dim - 1.0)
    if low == high:
        high += 0.001  # avoid dividing by zero, as transformers does
    index = torch.arange(dim // 2, dtype=torch.float32, device="cpu")  # [D/2]
    ramp = ((index - low) / (high - low)).clamp(0, 1)  # [D/2]
    extrapolation_weight = 1 - ramp
    inv_freq = (1.0 / (factor * pos_freqs)) * ramp + (1.0 / pos_freqs) * extrapolation_weight
    return inv_freq, concentration


@dataclass(frozen=True)
class Rotation:
    """The rotation for one forward pass's positions, computed once and applied in every layer."""

    cos: torch.Tensor  # [N, 1, D/2] float32, concentration applied
    sin: torch.Tensor  # [N, 1, D/2]

    def __call__(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q [N, H, D], k [N, KV, D] -> rotated, same shapes and dtypes."""
        return _rotate(q, self.cos, self.sin), _rotate(k, self.cos, self.sin)


# Positions whose cos/sin are computed at once. The table grows by whole chunks, so each value is
# computed by the same call shape whatever the batch (a vectorized cos and its scalar tail can
# differ in the last bit): a position's rotation never depends on the other rows of a step.
_TABLE_CHUNK = 4096


class RotaryEmbedding(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        inv_freq, self.concentration = yarn_inv_freq(config)
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # [D/2] float32
        self._cos: torch.Tensor | None = None  # [L, D/2] float32, concentration applied
        self._sin: torch.Tensor | None = None

    def at(self, positions: torch.Tensor) -> Rotation:
        """positions [N] -> their rotation (cos and sin [N, 1, D/2]), looked up in a table."""
        needed = int(positions.max()) + 1 if positions.numel() else 0
        if self._cos is None or self._cos.device != positions.device or self._cos.shape[0] < needed:
            self._grow(needed, positions.device)
        assert self._cos is not None and self._sin is not None
        return Rotation(self._cos[positions][:, None, :], self._sin[positions][:, None, :])

    def _grow(self, needed: int, device: torch.device) -> None:
        have = 0 if self._cos is None or self._cos.device != device else self._cos.shape[0]
        cos, sin = ([self._cos], [self._sin]) if have else ([], [])
        inv_freq = self.inv_freq.to(device)
        for start in range(have, max(needed, 1), _TABLE_CHUNK):
            chunk = torch.arange(start, start + _TABLE_CHUNK, device=device, dtype=torch.float32)
            freqs = chunk[:, None] * inv_freq[None, :]  # [chunk, D/2]
            cos.append(freqs.cos() * self.concentration)
            sin.append(freqs.sin() * self.concentration)
        self._cos, self._sin = torch.cat(cos), torch.cat(sin)  # type: ignore[arg-type]

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q [N, H, D], k [N, KV, D] -> rotated, same shapes and dtypes."""
        return self.at(positions)(q, k)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # NeoX style: the first half of each head pairs with the second half. Done in float32 so a
    # bf16 model only rounds once, at the end.
    first, second = x.float().chunk(2, dim=-1)  # [N, H, D/2] each
    out = torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)  # [N, H, D]
    return out.to(x.dtype)
