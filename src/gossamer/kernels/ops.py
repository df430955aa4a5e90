"""Tensor-level entry points of the C++ kernels (loaded through ctypes).

ctypes releases the GIL during each call, so the engine's model thread does not block the event
loop. Every function validates shapes and dtypes here, because a wrong pointer in C is a crash,
not an exception.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
from pathlib import Path

import torch

from gossamer.kernels.build import KernelBuildError, build_library

logger = logging.getLogger(__name__)

ISAS = ("scalar", "avx2", "avx512", "avx512bf16", "avx512amx")  # index = the C enum
# How the MXFP4 experts multiply bf16 activations: "int8" rounds them to int8 per 32-value block
# (llama.cpp's precision; the expert products about 1.3x faster; needs AVX512-VNNI), "exact"
# multiplies the bf16 values themselves. float32 activations always take the exact path.
EXPERT_PRECISIONS = ("int8", "exact")
_DTYPE_CODES = {torch.float32: 1, torch.bfloat16: 2}

_lock = threading.Lock()
_library: ctypes.CDLL | None = None
_load_error: str | None = None

_i64 = ctypes.c_int64
_ptr = ctypes.c_void_p


def _declare(lib: ctypes.CDLL) -> None:
    lib.gk_isa_supported.argtypes = [ctypes.c_int]
    lib.gk_get_isa.argtypes = []
    lib.gk_set_isa.argtypes = [ctypes.c_int]
    lib.gk_mxfp4_grouped.argtypes = [_ptr, _ptr, _ptr, ctypes.c_int, _i64, _i64, _i64, _ptr, _ptr, _i64,
                                     _ptr, ctypes.c_int, _i64, _ptr, ctypes.c_int]
    lib.gk_linear.argtypes = [_ptr, ctypes.c_int, _ptr, ctypes.c_int, _i64, _i64, _ptr, ctypes.c_int, _i64,
                              _ptr, ctypes.c_int]
    lib.gk_attention_decode.argtypes = [_ptr, ctypes.c_int, _ptr, _ptr, ctypes.c_int, _i64, _i64, _i64, _i64,
                                        _ptr, ctypes.c_float, _ptr, ctypes.c_int]
    lib.gk_moe_block_bf16.argtypes = [_ptr, _i64, _i64, _ptr, ctypes.c_float, _ptr, _ptr, _i64, _i64,
                                      _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _i64, ctypes.c_float, _ptr,
                                      ctypes.c_int]
    lib.gk_qkv_block_bf16.argtypes = [_ptr, _i64, _i64, _ptr, ctypes.c_float, _ptr, _ptr, _i64, _i64, _i64,
                                      _ptr, _ptr, _ptr, _ptr, _ptr, ctypes.c_int]
    lib.gk_paged_attention.argtypes = [_ptr, ctypes.c_int, _ptr, _ptr, ctypes.c_int, _i64, _i64, _i64, _i64,
                                       _ptr, _i64, _i64, _ptr, _ptr, _i64, _i64, _ptr, ctypes.c_float,
                                       _ptr, ctypes.c_int, ctypes.c_int]
    lib.gk_attention_bf16dp_used.argtypes = [_i64, _i64, _i64]
    lib.gk_set_experts_int8.argtypes = [ctypes.c_int]
    lib.gk_experts_int8_active.argtypes = []
    for fn in (lib.gk_isa_supported, lib.gk_get_isa, lib.gk_set_isa, lib.gk_mxfp4_grouped, lib.gk_linear,
               lib.gk_attention_decode, lib.gk_set_experts_int8, lib.gk_experts_int8_active,
               lib.gk_moe_block_bf16, lib.gk_qkv_block_bf16, lib.gk_attention_bf16dp_used,
               lib.gk_paged_attention):
        fn.restype = ctypes.c_int


def _load() -> ctypes.CDLL | None:
    global _library, _load_error
    if _library is not None or _load_error is not None:
        return _library
    with _lock:
        if _library is not None or _load_error is not None:
            return _library
        if os.environ.get("GOSSAMER_KERNELS", "1") == "0":
            _load_error = "disabled by GOSSAMER_KERNELS=0"
            return None
        try:
            path: Path = build_library()
            lib = ctypes.CDLL(str(path))
            _declare(lib)
        except (KernelBuildError, OSError) as exc:
            _load_error = str(exc)
            logger.warning("CPU kernels unavailable, using the pure-torch path: %s", exc)
            return None
        forced = os.environ.get("GOSSAMER_KERNELS_ISA")
        if forced and (forced not in ISAS or lib.gk_set_isa(ISAS.index(forced)) != 0):
            logger.warning("GOSSAMER_KERNELS_ISA=%s is not supported on this CPU; using %s",
                           forced, ISAS[lib.gk_get_isa()])
        precision = os.environ.get("GOSSAMER_CPU_EXPERTS", "int8")
        if precision not in EXPERT_PRECISIONS:
            logger.warning("GOSSAMER_CPU_EXPERTS=%s is not one of %s; using int8", precision,
                           EXPERT_PRECISIONS)
            precision = "int8"
        lib.gk_set_experts_int8(int(precision == "int8"))
        _library = lib
        logger.info("CPU kernels loaded (%s, experts %s)", ISAS[lib.gk_get_isa()], experts_precision())
        return _library


# Threads the kernels use; None: torch's setting. An engine that runs torch's own small operations
# on one thread (see gossamer/engine/model_runner.py) keeps the kernels on all of them this way.
_kernel_threads: int | None = None


def num_threads() -> int:
    return _kernel_threads or torch.get_num_threads()


def set_num_threads(threads: int | None) -> None:
    """Threads for the kernels from now on (None: follow torch.get_num_threads())."""
    global _kernel_threads
    _kernel_threads = threads


def available() -> bool:
    """True when the compiled kernels can be used in this process (compiles them on first call)."""
    return _load() is not None


def unavailable_reason() -> str | None:
    _load()
    return _load_error


def current_isa() -> str:
    lib = _require()
    return ISAS[lib.gk_get_isa()]


def supported_isas() -> list[str]:
    lib = _require()
    return [name for i, name in enumerate(ISAS) if lib.gk_isa_supported(i)]


def set_isa(name: str) -> None:
    """Force one instruction set (tests and benchmarks); raises ValueError if the CPU lacks it."""
    lib = _require()
    if name not in ISAS or lib.gk_set_isa(ISAS.index(name)) != 0:
        raise ValueError(f"instruction set {name!r} is not supported here (have {supported_isas()})")
    attention_decode_max_keys.cache_clear()  # which attention kernel runs depends on the set


def set_experts_precision(name: str) -> str:
    """Choose "int8" or "exact" expert products for bf16 activations; returns what will run
    ("exact" where the CPU lacks AVX512-VNNI or a narrower instruction set is forced)."""
    if name not in EXPERT_PRECISIONS:
        raise ValueError(f"expert precision must be one of {EXPERT_PRECISIONS}, got {name!r}")
    return "int8" if _require().gk_set_experts_int8(int(name == "int8")) else "exact"


def experts_precision() -> str:
    """What the MXFP4 experts use for bf16 activations right now: "int8" or "exact"."""
    return "int8" if _require().gk_experts_int8_active() else "exact"


def _require() -> ctypes.CDLL:
    lib = _load()
    if lib is None:
        raise RuntimeError(f"CPU kernels unavailable: {_load_error}")
    return lib


def _check_cpu_contiguous(name: str, t: torch.Tensor) -> None:
    if t.device.type != "cpu" or not t.is_contiguous():
        raise ValueError(f"{name} must be a contiguous CPU tensor")


# name -> (tensor, dtype, shape as a tuple, or an element count as an int)
_Expected = dict[str, tuple[torch.Tensor, torch.dtype, tuple[int, ...] | int]]


def _check_args(fn: str, expected: _Expected) -> None:
    """Each named tensor has its dtype and shape (or element count) and is a contiguous CPU tensor."""
    for name, (tensor, dtype, size) in expected.items():
        got = tensor.numel() if isinstance(size, int) else tuple(tensor.shape)
        if tensor.dtype != dtype or got != size:
            wanted = f"{size} elements" if isinstance(size, int) else str(size)
            raise ValueError(f"{fn}: {name} is {tensor.dtype} {tuple(tensor.shape)}, "
                             f"expected {dtype} {wanted}")
        _check_cpu_contiguous(name, tensor)


def _bias_args(bias: torch.Tensor | None) -> tuple[int | None, int]:
    if bias is None:
        return None, 0
    _check_cpu_contiguous("bias", bias)
    if bias.dtype not in _DTYPE_CODES:
        raise ValueError(f"bias dtype must be float32 or bfloat16, got {bias.dtype}")
    return bias.data_ptr(), _DTYPE_CODES[bias.dtype]


def mxfp4_grouped(
    x: torch.Tensor,  # [T, C] rows sorted by expert group
    blocks: torch.Tensor,  # [E, R, C/32, 16] uint8
    scales: torch.Tensor,  # [E, R, C/32] uint8
    bias: torch.Tensor | None,  # [E, R]
    group_experts: torch.Tensor,  # [G] int64: the expert of each group
    group_offsets: torch.Tensor,  # [G + 1] int64: rows [offsets[g], offsets[g+1]) form group g
) -> torch.Tensor:  # [T, R] float32
    """Rows of x through their group's MXFP4 expert, decoding nibbles on the fly (never expanding
    more than a few rows of an expert). One call covers a whole MoE layer: decode (one token, k
    groups) and prefill (many tokens per expert)."""
    lib = _require()
    num_experts, rows, num_blocks, block_bytes = blocks.shape
    cols = num_blocks * 32
    if block_bytes != 16 or blocks.dtype != torch.uint8 or scales.dtype != torch.uint8:
        raise ValueError(f"blocks must be uint8 [E, R, C/32, 16], got {blocks.dtype} {tuple(blocks.shape)}")
    if tuple(scales.shape) != (num_experts, rows, num_blocks):
        raise ValueError(f"scales shape {tuple(scales.shape)} does not match blocks {tuple(blocks.shape)}")
    if bias is not None and tuple(bias.shape) != (num_experts, rows):
        raise ValueError(f"bias shape {tuple(bias.shape)} should be {(num_experts, rows)}")
    _check_cpu_contiguous("blocks", blocks)
    _check_cpu_contiguous("scales", scales)
    if x.dim() != 2 or x.shape[1] != cols:
        raise ValueError(f"x shape {tuple(x.shape)} does not fit experts of {rows}x{cols}")
    group_experts = group_experts.to(torch.int64).contiguous()
    group_offsets = group_offsets.to(torch.int64).contiguous()
    num_groups = group_experts.shape[0]
    if group_experts.dim() != 1 or tuple(group_offsets.shape) != (num_groups + 1,):
        raise ValueError(f"need group_experts [G] and group_offsets [G + 1], got "
                         f"{tuple(group_experts.shape)} and {tuple(group_offsets.shape)}")
    # bf16 activations go in as they are: the avx512bf16 path multiplies them directly.
    xc = (x if x.dtype in _DTYPE_CODES else x.to(torch.float32)).contiguous()
    num_rows = x.shape[0]
    y = torch.empty(num_rows, rows, dtype=torch.float32)  # [T, R]
    if num_groups == 0:
        return y
    bias_ptr, bias_code = _bias_args(bias)
    rc = lib.gk_mxfp4_grouped(blocks.data_ptr(), scales.data_ptr(), bias_ptr, bias_code, num_experts, rows,
                              cols, group_experts.data_ptr(), group_offsets.data_ptr(), num_groups,
                              xc.data_ptr(), _DTYPE_CODES[xc.dtype], num_rows, y.data_ptr(),
                              num_threads())
    if rc == -2:
        raise ValueError(f"expert ids {group_experts.tolist()} out of range for {num_experts} experts")
    if rc == -3:
        raise ValueError(f"group_offsets {group_offsets.tolist()} must rise from 0 to {num_rows}")
    if rc != 0:
        raise ValueError(f"gk_mxfp4_grouped rejected its arguments (code {rc})")
    return y


def moe_block_bf16(
    x: torch.Tensor,  # [N, H] float32 residual stream
    norm_scale: torch.Tensor,  # [H] float32
    eps: float,
    router_weight: torch.Tensor,  # [E, H] bf16
    router_bias: torch.Tensor,  # [E] bf16
    top_k: int,
    mlp1_blocks: torch.Tensor,  # [E, 2I, H/32, 16] uint8, gate rows even, linear rows odd
    mlp1_scales: torch.Tensor,  # [E, 2I, H/32] uint8
    mlp1_bias: torch.Tensor,  # [E, 2I] bf16
    mlp2_blocks: torch.Tensor,  # [E, H, I/32, 16] uint8
    mlp2_scales: torch.Tensor,  # [E, H, I/32] uint8
    mlp2_bias: torch.Tensor,  # [E, H] bf16
    swiglu_limit: float,
) -> torch.Tensor:  # [N, H] float32: the block's residual update
    """A bf16 gpt-oss MoE block in one call: RMSNorm, router, top-k softmax, MXFP4 experts with
    clamped SwiGLU, weighted sum (gossamer/model/moe.py's steps and roundings)."""
    lib = _require()
    num_tokens, hidden = x.shape
    num_experts, rows1 = mlp1_blocks.shape[:2]
    inter = rows1 // 2
    expected = {
        "x": (x, torch.float32, (num_tokens, hidden)),
        "norm_scale": (norm_scale, torch.float32, (hidden,)),
        "router_weight": (router_weight, torch.bfloat16, (num_experts, hidden)),
        "router_bias": (router_bias, torch.bfloat16, (num_experts,)),
        "mlp1_blocks": (mlp1_blocks, torch.uint8, (num_experts, 2 * inter, hidden // 32, 16)),
        "mlp1_scales": (mlp1_scales, torch.uint8, (num_experts, 2 * inter, hidden // 32)),
        "mlp1_bias": (mlp1_bias, torch.bfloat16, (num_experts, 2 * inter)),
        "mlp2_blocks": (mlp2_blocks, torch.uint8, (num_experts, hidden, inter // 32, 16)),
        "mlp2_scales": (mlp2_scales, torch.uint8, (num_experts, hidden, inter // 32)),
        "mlp2_bias": (mlp2_bias, torch.bfloat16, (num_experts, hidden)),
    }
    _check_args("moe_block_bf16", expected)
    if hidden % 32 or inter % 32 or not 0 < top_k <= num_experts:
        raise ValueError(f"moe_block_bf16: hidden {hidden} and intermediate {inter} must be multiples of 32, "
                         f"top_k {top_k} within 1..{num_experts}")
    update = torch.empty(num_tokens, hidden, dtype=torch.float32)  # [N, H]
    if num_tokens == 0:
        return update
    rc = lib.gk_moe_block_bf16(x.data_ptr(), num_tokens, hidden, norm_scale.data_ptr(), eps,
                               router_weight.data_ptr(), router_bias.data_ptr(), num_experts, top_k,
                               mlp1_blocks.data_ptr(), mlp1_scales.data_ptr(), mlp1_bias.data_ptr(),
                               mlp2_blocks.data_ptr(), mlp2_scales.data_ptr(), mlp2_bias.data_ptr(), inter,
                               swiglu_limit, update.data_ptr(), num_threads())
    if rc != 0:
        raise ValueError(f"gk_moe_block_bf16 rejected its arguments (code {rc})")
    return update


QKV_MAX_HEAD_DIM = 512  # the kernel's per-head scratch


def qkv_block_bf16(
    x: torch.Tensor,  # [N, H] float32 residual stream
    norm_scale: torch.Tensor,  # [H] float32
    eps: float,
    weight: torch.Tensor,  # [(heads + 2 * kv_heads) * D, H] bf16
    bias: torch.Tensor,  # [(heads + 2 * kv_heads) * D] bf16
    num_heads: int,
    num_kv_heads: int,
    cos: torch.Tensor,  # [N, D/2] float32 (any shape with N * D/2 contiguous elements)
    sin: torch.Tensor,  # [N, D/2] float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # q [N, heads, D], k and v [N, kv_heads, D] bf16
    """A bf16 attention block's input side in one call: RMSNorm, qkv projection, RoPE on q and k."""
    lib = _require()
    num_tokens, hidden = x.shape
    rows = weight.shape[0]
    head_dim = rows // (num_heads + 2 * num_kv_heads)
    expected = {
        "x": (x, torch.float32, num_tokens * hidden),
        "norm_scale": (norm_scale, torch.float32, hidden),
        "weight": (weight, torch.bfloat16, rows * hidden),
        "bias": (bias, torch.bfloat16, rows),
        "cos": (cos, torch.float32, num_tokens * (head_dim // 2)),
        "sin": (sin, torch.float32, num_tokens * (head_dim // 2)),
    }
    _check_args("qkv_block_bf16", expected)
    if (head_dim * (num_heads + 2 * num_kv_heads) != rows or weight.shape[1] != hidden or head_dim % 2
            or head_dim > QKV_MAX_HEAD_DIM):
        raise ValueError(f"qkv_block_bf16: weight {tuple(weight.shape)} does not split into {num_heads} + "
                         f"2 x {num_kv_heads} heads of an even size up to {QKV_MAX_HEAD_DIM}")
    q = torch.empty(num_tokens, num_heads, head_dim, dtype=torch.bfloat16)  # [N, heads, D]
    k = torch.empty(num_tokens, num_kv_heads, head_dim, dtype=torch.bfloat16)  # [N, kv_heads, D]
    v = torch.empty(num_tokens, num_kv_heads, head_dim, dtype=torch.bfloat16)  # [N, kv_heads, D]
    if num_tokens == 0:
        return q, k, v
    rc = lib.gk_qkv_block_bf16(x.data_ptr(), num_tokens, hidden, norm_scale.data_ptr(), eps,
                               weight.data_ptr(), bias.data_ptr(), num_heads, num_kv_heads, head_dim,
                               cos.data_ptr(), sin.data_ptr(), q.data_ptr(), k.data_ptr(), v.data_ptr(),
                               num_threads())
    if rc != 0:
        raise ValueError(f"gk_qkv_block_bf16 rejected its arguments (code {rc})")
    return q, k, v


def mxfp4_experts(
    x: torch.Tensor,  # [N, C] shared by every expert, or [K, N, C] one activation set per expert
    blocks: torch.Tensor,  # [E, R, C/32, 16] uint8
    scales: torch.Tensor,  # [E, R, C/32] uint8
    bias: torch.Tensor | None,  # [E, R]
    expert_ids: torch.Tensor,  # [K] int64
) -> torch.Tensor:  # [K, N, R] float32
    """The same N tokens (or one token set per expert) through each of K experts."""
    if expert_ids.dim() != 1:
        raise ValueError(f"expert_ids must be 1-D, got shape {tuple(expert_ids.shape)}")
    num_selected = expert_ids.shape[0]
    if x.dim() not in (2, 3) or (x.dim() == 3 and x.shape[0] != num_selected):
        raise ValueError(f"x shape {tuple(x.shape)} does not fit {num_selected} experts")
    num_tokens = x.shape[-2]
    rows_x = x.expand(num_selected, *x.shape[-2:]) if x.dim() == 2 else x  # [K, N, C]
    offsets = torch.arange(num_selected + 1, dtype=torch.int64) * num_tokens  # [K + 1]
    flat_x = rows_x.reshape(num_selected * num_tokens, -1)  # [K * N, C]
    y = mxfp4_grouped(flat_x, blocks, scales, bias, expert_ids, offsets)  # [K * N, R]
    return y.view(num_selected, num_tokens, -1)  # [K, N, R]


def linear(
    x: torch.Tensor,  # [N, C]
    weight: torch.Tensor,  # [R, C] bfloat16 or float32
    bias: torch.Tensor | None = None,  # [R]
) -> torch.Tensor:  # [N, R] float32
    """x @ weight.T + bias accumulated in float32; built for few rows of x (decode, sampled logits)."""
    lib = _require()
    rows, cols = weight.shape
    if weight.dtype not in _DTYPE_CODES:
        raise ValueError(f"weight dtype must be float32 or bfloat16, got {weight.dtype}")
    _check_cpu_contiguous("weight", weight)
    if x.dim() != 2 or x.shape[1] != cols:
        raise ValueError(f"x shape {tuple(x.shape)} does not fit weight {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (rows,):
        raise ValueError(f"bias shape {tuple(bias.shape)} should be {(rows,)}")
    # bf16 activations go in as they are (the kernel multiplies bf16 x bf16 exactly, or widens).
    xk = (x if x.dtype == torch.bfloat16 else x.to(torch.float32)).contiguous()
    num_tokens = x.shape[0]
    y = torch.empty(num_tokens, rows, dtype=torch.float32)  # [N, R]
    if num_tokens == 0:
        return y
    bias_ptr, bias_code = _bias_args(bias)
    rc = lib.gk_linear(weight.data_ptr(), _DTYPE_CODES[weight.dtype], bias_ptr, bias_code, rows, cols,
                       xk.data_ptr(), _DTYPE_CODES[xk.dtype], num_tokens, y.data_ptr(),
                       num_threads())
    if rc != 0:
        raise ValueError(f"gk_linear rejected its arguments (code {rc})")
    return y


@functools.cache
def attention_decode_max_keys(
    num_heads: int, num_kv_heads: int, head_dim: int, dtype: torch.dtype
) -> int | None:
    """How many visible keys `attention_decode` should take before torch's batched matmul is the
    faster path: None (no limit) for bf16 q and cache on an AVX512-BF16 CPU, else ATTENTION_MAX_KEYS."""
    lib = _require()
    if dtype == torch.bfloat16 and lib.gk_attention_bf16dp_used(num_heads, num_kv_heads, head_dim):
        return None
    return ATTENTION_MAX_KEYS


def attention_decode_preferred(q: torch.Tensor, keys: torch.Tensor, num_keys: int | None = None) -> bool:
    """Whether `attention_decode` beats torch's batched matmul for query q [1, H, D] over keys
    [M, KV, D] (or the first `num_keys` of them). The vdpbf16ps kernel needs q and keys both bf16;
    any other mix is held to the general kernel's limit."""
    dtype = q.dtype if q.dtype == keys.dtype else torch.float32
    limit = attention_decode_max_keys(q.shape[1], keys.shape[1], keys.shape[2], dtype)
    return limit is None or (keys.shape[0] if num_keys is None else num_keys) <= limit


# The general decode kernel sums each query-key dot product horizontally; past about a thousand
# visible keys torch's batched matmul is faster (measured: kernel 0.42 vs 0.68 ms at 512 keys,
# 2.8 vs 2.1 ms at 2048, 64 heads over 8 KV heads of 64, two threads).
ATTENTION_MAX_KEYS = 1024


def attention_decode(
    q: torch.Tensor,  # [1, H, D] one query token, RoPE applied
    keys: torch.Tensor,  # [M, KV, D] the visible cached keys (window already applied)
    values: torch.Tensor,  # [M, KV, D]
    sinks: torch.Tensor,  # [H] learned logits
) -> torch.Tensor:  # [1, H, D] in q's dtype
    """Softmax attention with sinks of one query over M keys, scale 1/sqrt(D) (sinks unscaled)."""
    lib = _require()
    _, num_heads, head_dim = q.shape
    num_keys, num_kv_heads, _ = keys.shape
    if q.shape[0] != 1 or keys.shape != values.shape or keys.shape[2] != head_dim or num_keys == 0:
        raise ValueError(f"attention_decode: q {tuple(q.shape)}, keys {tuple(keys.shape)}, "
                         f"values {tuple(values.shape)} do not fit")
    if num_heads % num_kv_heads or tuple(sinks.shape) != (num_heads,):
        raise ValueError(f"attention_decode: {num_heads} heads over {num_kv_heads} KV heads, "
                         f"sinks {tuple(sinks.shape)}")
    if keys.dtype != values.dtype or keys.dtype not in _DTYPE_CODES:
        raise ValueError("attention_decode: keys/values must share a float32 or bfloat16 dtype")
    keys, values = keys.contiguous(), values.contiguous()
    _check_cpu_contiguous("keys", keys)
    q32 = q.to(torch.float32).contiguous()
    sinks32 = sinks.to(torch.float32).contiguous()
    out = torch.empty(1, num_heads, head_dim, dtype=torch.float32)  # [1, H, D]
    rc = lib.gk_attention_decode(q32.data_ptr(), int(q.dtype == torch.bfloat16), keys.data_ptr(),
                                 values.data_ptr(), _DTYPE_CODES[keys.dtype], num_keys, num_heads,
                                 num_kv_heads, head_dim, sinks32.data_ptr(), head_dim**-0.5, out.data_ptr(),
                                 num_threads())
    if rc != 0:
        raise ValueError(f"gk_attention_decode rejected its arguments (code {rc})")
    return out.to(q.dtype)


def paged_attention(
    q: torch.Tensor,  # [N, H, D] this step's queries, RoPE applied, grouped by sequence
    k_cache: torch.Tensor,  # [num_slots, KV, D] holding this step's keys already
    v_cache: torch.Tensor,  # [num_slots, KV, D]
    block_tables: torch.Tensor,  # [S, max_blocks] int32 cache block of each logical block (-1: none)
    block_size: int,
    query_start: torch.Tensor,  # [S + 1] int32: sequence s owns rows [query_start[s], query_start[s+1])
    seq_lens: torch.Tensor,  # [S] int32: positions in the cache after this step (the queries are the last)
    sinks: torch.Tensor,  # [H] learned logits
    sliding_window: int | None,
) -> torch.Tensor:  # [N, H, D] in q's dtype
    """Attention with sinks for every query of a step's batch over the paged cache, in one call.

    Each query is computed alone over its own sequence's visible keys, so its output does not
    depend on the rest of the batch (see csrc/paged_attention.cpp)."""
    lib = _require()
    num_rows, num_heads, head_dim = q.shape
    num_slots, num_kv_heads, _ = k_cache.shape
    num_seqs, max_blocks = block_tables.shape
    expected = {
        "k_cache": (k_cache, k_cache.dtype, (num_slots, num_kv_heads, head_dim)),
        "v_cache": (v_cache, k_cache.dtype, (num_slots, num_kv_heads, head_dim)),
        "block_tables": (block_tables, torch.int32, (num_seqs, max_blocks)),
        "query_start": (query_start, torch.int32, (num_seqs + 1,)),
        "seq_lens": (seq_lens, torch.int32, (num_seqs,)),
        "sinks": (sinks, torch.float32, (num_heads,)),
    }
    _check_args("paged_attention", expected)
    if q.dtype not in _DTYPE_CODES or k_cache.dtype not in _DTYPE_CODES:
        raise ValueError(f"paged_attention: q {q.dtype} and cache {k_cache.dtype} must be float32 or "
                         "bfloat16")
    q = q.contiguous()
    out = torch.empty_like(q)  # [N, H, D]
    if num_rows == 0:
        return out
    rc = lib.gk_paged_attention(q.data_ptr(), _DTYPE_CODES[q.dtype], k_cache.data_ptr(), v_cache.data_ptr(),
                                _DTYPE_CODES[k_cache.dtype], num_slots, num_heads, num_kv_heads, head_dim,
                                block_tables.data_ptr(), max_blocks, block_size, query_start.data_ptr(),
                                seq_lens.data_ptr(), num_seqs, sliding_window or 0, sinks.data_ptr(),
                                head_dim**-0.5, out.data_ptr(), _DTYPE_CODES[out.dtype],
                                num_threads())
    if rc == -2:
        raise ValueError("paged_attention: a visible position has no cache block")
    if rc != 0:
        raise ValueError(f"gk_paged_attention rejected its arguments (code {rc})")
    return out
