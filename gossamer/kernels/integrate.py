"""Switch a loaded model's CPU hot paths to the kernels (the model keeps its torch reference).

The MoE uses the model's own seam (`GptOss.set_experts_impl`); the dense projections and decode
attention dispatch per call (gossamer.kernels.dense, ContiguousKVCache), since they check the
device and row count anyway.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gossamer.kernels.ops import available

if TYPE_CHECKING:
    from gossamer.model.gpt_oss import GptOss

logger = logging.getLogger(__name__)


def use_cpu_kernels(model: GptOss) -> bool:
    """Route `model`'s MXFP4 expert products through the kernels when it lives on the CPU and the
    kernels can run here; returns whether they now do."""
    if model.device.type != "cpu" or not available():
        return False
    if not model.blocks[0].mlp.packed_experts:
        return False  # dense (bf16) experts: torch's matmul is already the right tool
    from gossamer.kernels.moe import experts_forward

    model.set_experts_impl(experts_forward)
    logger.debug("MoE experts run on the CPU kernels")
    return True
