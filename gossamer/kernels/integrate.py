"""Switch a loaded model's CPU hot paths to the kernels (the model keeps its torch reference).

Through the model's own seams: `GptOss.set_experts_impl` (MXFP4 experts, every batch size) and
`GptOss.set_linear_impl` (attention projections and the unembedding; the kernel takes few-row
products, torch's matmul the rest).
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
    if model.blocks[0].mlp.packed_experts:  # dense (bf16) experts: torch's matmul is the right tool
        from gossamer.kernels.moe import experts_forward

        model.set_experts_impl(experts_forward)
    logger.debug("CPU kernels on (experts: %s)", "MXFP4" if model.blocks[0].mlp.packed_experts else "torch")
    return True
