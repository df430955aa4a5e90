"""Switch a loaded model's CPU hot paths to the kernels (the model keeps its torch reference).

Through the model's own seams: `GptOss.set_experts_impl` (MXFP4 experts, every batch size),
`GptOss.set_linear_impl` (attention projections and the unembedding; the kernel takes few-row
products, torch's matmul the rest) and, for bf16 models, `GptOss.set_moe_block_impl` (the whole
MoE block, norm to weighted sum, in one kernel call) and `GptOss.set_attention_qkv_impl` (an
attention block's norm, qkv projection and RoPE in one call).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gossamer.kernels.ops import available

if TYPE_CHECKING:
    from gossamer.model.gpt_oss import GptOss

logger = logging.getLogger(__name__)


def use_cpu_kernels(model: GptOss) -> bool:
    """Route `model`'s products through the kernels when it lives on the CPU and the kernels can
    run here; returns whether they now do."""
    if model.device.type != "cpu" or not available():
        return False
    from gossamer.kernels.dense import linear_impl

    model.set_linear_impl(linear_impl)
    from gossamer.kernels.qkv import fused_qkv_supported, qkv_forward

    # bf16 models: each attention block's norm, qkv projection and RoPE in one call.
    if all(fused_qkv_supported(block.attn) for block in model.blocks):
        model.set_attention_qkv_impl(qkv_forward)
    fused = False
    if model.blocks[0].mlp.packed_experts:  # dense (bf16) experts: torch's matmul is the right tool
        from gossamer.kernels.moe import block_forward, experts_forward, fused_block_supported

        model.set_experts_impl(experts_forward)
        # bf16 models: the whole MoE block in one call (same steps, far less Python per layer).
        if all(fused_block_supported(block.mlp) for block in model.blocks):
            model.set_moe_block_impl(block_forward)
            fused = True
    experts = "fused MXFP4 blocks" if fused else "MXFP4" if model.blocks[0].mlp.packed_experts else "torch"
    logger.debug("CPU kernels on (experts: %s)", experts)
    return True
