"""CPU kernels for the decode hot paths: MXFP4 expert products, bf16 matrix-vector products and
attention with sinks for one query token.

Compiled from the C++ in `csrc/` on first use (see build.py); when that is impossible the model
keeps its pure-torch path, which is also the oracle the kernels are tested against.
Environment: GOSSAMER_KERNELS=0 disables them, GOSSAMER_KERNELS_ISA=avx512amx|avx512bf16|avx512|avx2|scalar
forces an instruction set (avx512bf16 adds bf16 dot-product paths; avx512amx also computes the dense
bf16 products on AMX tiles), GOSSAMER_CPU_EXPERTS=int8|exact
chooses how the MXFP4 experts multiply bf16 activations (int8, the default, where AVX512-VNNI exists).
"""

from gossamer.kernels.ops import (
    attention_decode,
    attention_decode_max_keys,
    attention_decode_preferred,
    available,
    current_isa,
    experts_precision,
    linear,
    mxfp4_experts,
    mxfp4_grouped,
    num_threads,
    paged_attention,
    set_experts_precision,
    set_isa,
    set_num_threads,
    supported_isas,
    unavailable_reason,
)

__all__ = [
    "attention_decode",
    "attention_decode_max_keys",
    "attention_decode_preferred",
    "available",
    "current_isa",
    "experts_precision",
    "linear",
    "mxfp4_experts",
    "mxfp4_grouped",
    "num_threads",
    "paged_attention",
    "set_experts_precision",
    "set_isa",
    "set_num_threads",
    "supported_isas",
    "unavailable_reason",
]
