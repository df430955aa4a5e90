"""The machine's measured matrix-multiply peak, and what gossamer's prefill kernels reach in cache.

    python benchmarks/matmul_peak.py [--threads 2]

Prefill is compute-bound, so its figure of merit is the fraction of the machine's matrix
throughput it reaches. This measures (best of several runs, all threads):
- torch's bf16 and float32 matmul on squares up to 4096 (oneDNN: AMX tiles where the CPU has
  them, else AVX-512; smaller where a product is slow, e.g. bf16 without native bf16 support),
  and its int8 matmul (torch._int_mm) where the CPU build has one;
- gossamer's kernels on prefill shapes whose weights fit in cache: the MXFP4 expert product on
  int8 activations (20b mlp1 rows, 64 tokens per expert) and the dense bf16 product (qkv rows,
  512 tokens; on AMX tiles and with vdpbf16ps where the CPU has them).
A multiply-add counts as 2 FLOP (or 2 OP for int8).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from gossamer import kernels


def best_seconds(fn: Callable[[], object], seconds: float = 3.0) -> float:
    fn()
    best, started = float("inf"), time.perf_counter()
    while time.perf_counter() - started < seconds:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def square_size(make: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
                product: Callable[[torch.Tensor, torch.Tensor], object], largest: int = 4096) -> int:
    """The largest n <= `largest` (from 256, doubling) whose n x n product takes under ~0.5 s.

    Without a native kernel (bf16 on a CPU without avx512_bf16 or AMX falls back to a scalar
    loop, ~0.1 GFLOP/s) a 4096-square product would take tens of minutes.
    """
    n = 256
    while n < largest:
        a, b = make(n)
        started = time.perf_counter()
        product(a, b)
        if (time.perf_counter() - started) * 8 > 0.5:  # doubling n costs 8x
            break
        n *= 2
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    print(f"{args.threads} threads, kernels {kernels.current_isa() if kernels.available() else 'absent'}; "
          "TFLOP/s (or TOP/s), best of ~3 s each")
    for dtype in (torch.bfloat16, torch.float32):
        n = square_size(lambda n, dtype=dtype: (torch.randn(n, n, generator=gen).to(dtype),) * 2,
                        lambda a, b: a @ b)
        a, b = torch.randn(n, n, generator=gen).to(dtype), torch.randn(n, n, generator=gen).to(dtype)
        print(f"torch matmul {dtype} ({n}x{n}): {2 * n**3 / best_seconds(lambda a=a, b=b: a @ b) / 1e12:.3f}")
    try:
        n = square_size(lambda n: (torch.randint(-127, 127, (n, n), dtype=torch.int8, generator=gen),) * 2,
                        torch._int_mm)
        a8 = torch.randint(-127, 127, (n, n), dtype=torch.int8, generator=gen)
        b8 = torch.randint(-127, 127, (n, n), dtype=torch.int8, generator=gen)
        print(f"torch _int_mm int8 ({n}x{n}): "
              f"{2 * n**3 / best_seconds(lambda: torch._int_mm(a8, b8)) / 1e12:.3f}")
    except RuntimeError as exc:  # no CPU int8 matmul in this build
        print(f"torch _int_mm int8: unavailable ({str(exc).splitlines()[0]})")
    if not kernels.available():
        return
    rows, cols, tokens = 5760 // 8, 2880, 64  # an eighth of one 20b expert's mlp1: stays in L2
    blocks = torch.randint(0, 256, (1, rows, cols // 32, 16), dtype=torch.uint8, generator=gen)
    scales = torch.randint(118, 128, (1, rows, cols // 32), dtype=torch.uint8, generator=gen)
    x = torch.randn(tokens, cols, generator=gen).bfloat16()
    experts, offsets = torch.zeros(1, dtype=torch.int64), torch.tensor([0, tokens])
    for wanted in ("int8", "exact"):
        precision = kernels.set_experts_precision(wanted)  # int8 only where AVX512-VNNI exists
        if precision != wanted:
            print(f"gossamer MXFP4 experts ({wanted} activations): not on this CPU")
            continue
        s = best_seconds(lambda: kernels.mxfp4_grouped(x, blocks, scales, None, experts, offsets))
        print(f"gossamer MXFP4 experts ({precision} activations, {tokens} tokens): "
              f"{2 * rows * cols * tokens / s / 1e12:.3f}")
    weight = torch.randn(1024, cols, generator=gen).bfloat16()
    xs = torch.randn(512, cols, generator=gen).bfloat16()
    default = kernels.current_isa()
    # AMX tiles where the CPU has them, and the vdpbf16ps kernel they replace, for comparison.
    isas = [name for name in ("avx512amx", "avx512bf16") if name in kernels.supported_isas()]
    for isa in isas or [default]:
        kernels.set_isa(isa)
        s = best_seconds(lambda: kernels.linear(xs, weight))
        print(f"gossamer dense bf16 ({isa}, 512 tokens): {2 * 1024 * cols * 512 / s / 1e12:.3f}")
    kernels.set_isa(default)


if __name__ == "__main__":
    main()
