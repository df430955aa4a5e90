"""MXFP4 (OCP microscaling FP4, E2M1 codes with one E8M0 scale per 32 values).

Layout, as both published gpt-oss checkpoints store it:
blocks `[..., rows, cols // 32, 16]` uint8 (low nibble = even element), scales
`[..., rows, cols // 32]` uint8 with value = code_value * 2 ** (scale - 127).
"""

from __future__ import annotations

import torch

BLOCK_SIZE = 32
# E2M1 code -> value; codes 8..15 are the negatives of 0..7 (8 is -0).
FP4_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)


def dequantize(
    blocks: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype = torch.bfloat16
) -> torch.Tensor:
    """Expand packed MXFP4 to `dtype`: blocks [..., R, C/32, 16], scales [..., R, C/32] -> [..., R, C]."""
    assert blocks.dtype == torch.uint8 and scales.dtype == torch.uint8, (blocks.dtype, scales.dtype)
    assert blocks.shape[:-1] == scales.shape and blocks.shape[-1] == BLOCK_SIZE // 2, (
        blocks.shape,
        scales.shape,
    )
    # One lookup per byte gives both of its values (low nibble first): half the gathers of
    # looking up each nibble, and no stacking.
    # Every E2M1 value times a power of two is exact in float32 and in bf16 (same exponent
    # range), so those compute directly in `dtype`; others (fp16) go through float32.
    work = dtype if dtype in (torch.float32, torch.bfloat16) else torch.float32
    lut = torch.tensor(FP4_VALUES, dtype=work, device=blocks.device)  # [16]
    pairs = torch.stack((lut.repeat(16), lut.repeat_interleave(16)), dim=-1)  # [256, 2]
    values = pairs[blocks.long()].flatten(-2)  # [..., R, C/32, 32]
    ones = torch.ones(scales.shape, dtype=torch.float32, device=scales.device)
    powers = torch.ldexp(ones, scales.to(torch.int32) - 127).to(work)  # [..., R, C/32]
    return (values * powers.unsqueeze(-1)).flatten(-2).to(dtype)  # [..., R, C]


def quantize(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Round [..., R, C] float weights to MXFP4 (nearest code per 32-value block).

    The scale is chosen so the block's largest magnitude maps to at most 6 (the largest code),
    which is what OCP's reference quantizer does.
    """
    *lead, rows, cols = weights.shape
    assert cols % BLOCK_SIZE == 0, f"columns ({cols}) must be a multiple of {BLOCK_SIZE}"
    w = weights.detach().to(torch.float32).reshape(*lead, rows, cols // BLOCK_SIZE, BLOCK_SIZE)
    amax = w.abs().amax(dim=-1).clamp_min(2.0**-126)  # [..., R, C/32]
    # 2**e with e = ceil(log2(amax / 6)) keeps every |w| / 2**e <= 6.
    exponents = torch.ceil(torch.log2(amax / 6.0)).clamp(-127, 127)
    scaled = w / torch.pow(2.0, exponents).unsqueeze(-1)  # [..., R, C/32, 32]
    magnitudes = torch.tensor(FP4_VALUES[:8], dtype=torch.float32, device=w.device)
    codes = (scaled.abs().unsqueeze(-1) - magnitudes).abs().argmin(dim=-1).to(torch.uint8)
    codes = codes | ((scaled < 0).to(torch.uint8) << 3)  # sign bit
    codes = codes.reshape(*lead, rows, cols // BLOCK_SIZE, BLOCK_SIZE // 2, 2)
    blocks = codes[..., 0] | (codes[..., 1] << 4)  # [..., R, C/32, 16]
    scales = (exponents + 127).to(torch.uint8)  # [..., R, C/32]
    return blocks.contiguous(), scales.contiguous()
