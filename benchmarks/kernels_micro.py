"""Micro-benchmark: GB/s of the CPU kernels against torch at gpt-oss-20b decode shapes.

    python benchmarks/kernels_micro.py [--threads 2] [--repeats 15] [--isa avx512] [--experts exact]

Each case rotates through enough distinct weights (> the L3 cache) that every call streams its
weights from memory, as decode does. GB/s counts the weight bytes the call must read (MXFP4:
17 bytes per 32 values; bf16: 2 bytes per value). Kernel and torch are timed alternately in the
same run, so the ratio holds even when the machine is shared and the absolute figures wobble.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gossamer import kernels
from gossamer.model import mxfp4

HIDDEN, INTER, NUM_EXPERTS, TOP_K = 2880, 2880, 32, 4
QKV_ROWS = 64 * 64 + 2 * 8 * 64  # 5120
VOCAB_SLICE = 201088 // 4  # a quarter of the unembedding: 290 MB, far above the L3


@dataclass
class Case:
    name: str
    num_bytes: int  # weight bytes read per call
    kernel: Callable[[int], object]  # call i -> result
    torch_fn: Callable[[int], object]
    torch_label: str


def median_seconds(fn: Callable[[int], object], repeats: int) -> float:
    fn(0)  # warm-up (and first-call compilation)
    times = []
    for i in range(1, repeats + 1):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mxfp4_cases(gen: torch.Generator) -> list[Case]:
    # Random codes and realistic scales (2**-9 .. 2**0): the kernels' speed does not depend on values.
    def experts(rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        blocks = torch.randint(0, 256, (NUM_EXPERTS, rows, cols // 32, 16), dtype=torch.uint8, generator=gen)
        scales = torch.randint(118, 128, (NUM_EXPERTS, rows, cols // 32), dtype=torch.uint8, generator=gen)
        bias = torch.randn(NUM_EXPERTS, rows, generator=gen).bfloat16()
        return blocks, scales, bias

    cases = []
    for label, rows, cols in (("mlp1 5760x2880", 2 * INTER, HIDDEN), ("mlp2 2880x2880", HIDDEN, INTER)):
        blocks, scales, bias = experts(rows, cols)
        x = torch.randn(1, cols, generator=gen).bfloat16()  # [1, C] one decode token
        selections = [torch.arange(TOP_K) + (TOP_K * i) % NUM_EXPERTS for i in range(NUM_EXPERTS)]

        def kernel(i: int, blocks=blocks, scales=scales, bias=bias, x=x, selections=selections) -> object:
            return kernels.mxfp4_experts(x, blocks, scales, bias, selections[i % len(selections)])

        def torch_path(i: int, blocks=blocks, scales=scales, bias=bias, x=x, selections=selections) -> object:
            # What the pure-torch MoE does per selected expert: expand, then a one-row linear.
            outs = []
            for e in selections[i % len(selections)].tolist():
                w = mxfp4.dequantize(blocks[e], scales[e], torch.bfloat16)  # [R, C]
                outs.append(F.linear(x, w, bias[e]))
            return outs

        num_bytes = TOP_K * rows * (cols // 32) * 17
        cases.append(Case(f"MXFP4 {label}, top-{TOP_K} experts", num_bytes, kernel, torch_path,
                          "dequantize + F.linear"))
    return cases


def bf16_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, rows, cols, copies in (("qkv 5120x2880", QKV_ROWS, HIDDEN, 12),
                                      ("out 2880x4096", HIDDEN, 64 * 64, 12),
                                      ("unembedding slice 50272x2880", VOCAB_SLICE, HIDDEN, 1)):
        weights = [torch.randn(rows, cols, generator=gen).bfloat16() for _ in range(copies)]
        bias = torch.randn(rows, generator=gen).bfloat16()
        x = torch.randn(1, cols, generator=gen).bfloat16()  # [1, C]

        def kernel(i: int, weights=weights, bias=bias, x=x) -> object:
            return kernels.linear(x, weights[i % len(weights)], bias)

        def torch_linear(i: int, weights=weights, bias=bias, x=x) -> object:
            return F.linear(x, weights[i % len(weights)], bias)

        cases.append(Case(f"bf16 {label}", rows * cols * 2, kernel, torch_linear, "F.linear (1 row)"))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--isa", choices=["avx512", "avx2", "scalar"], default=None)
    parser.add_argument("--experts", choices=["int8", "exact"], default=None,
                        help="MXFP4 expert precision for bf16 activations (default: the library's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not kernels.available():
        raise SystemExit(f"CPU kernels unavailable: {kernels.unavailable_reason()}")
    if args.isa:
        kernels.set_isa(args.isa)
    gen = torch.Generator().manual_seed(0)
    if args.experts:
        kernels.set_experts_precision(args.experts)
    print(f"threads={args.threads} isa={kernels.current_isa()} experts={kernels.experts_precision()} "
          f"repeats={args.repeats} (median)")
    print("| case | kernel GB/s | torch GB/s | torch path | speed-up |")
    print("|---|---|---|---|---|")
    for case in mxfp4_cases(gen) + bf16_cases(gen):
        kernel_s = median_seconds(case.kernel, args.repeats)
        torch_s = median_seconds(case.torch_fn, args.repeats)
        print(f"| {case.name} | {case.num_bytes / kernel_s / 1e9:.1f} | {case.num_bytes / torch_s / 1e9:.1f} "
              f"| {case.torch_label} | {torch_s / kernel_s:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
