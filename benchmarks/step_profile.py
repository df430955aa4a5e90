"""Where one model pass of N tokens spends its time: attention blocks, MoE blocks, logits.

    python benchmarks/step_profile.py --model /tmp/gb/20b --tokens 1,16,64
    GOSSAMER_KERNELS_ISA=avx512bf16 python benchmarks/step_profile.py --model /tmp/gb/20b   # other kernels

The model as the engine loads it (bf16, CPU kernels, torch on one thread and the kernels on all),
timers around every attention block's and MoE block's forward and around the logits. Each pass
of N tokens follows a 32-token prefix in a fresh contiguous cache, so N tokens cost what an
engine step of N decoding sequences costs in its dense and expert products (attention over a
short context either way). Reports the second-fastest of --repeats passes per N.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

from gossamer import kernels
from gossamer.engine import EngineConfig, build_engine
from gossamer.model.attention import ContiguousKVCache


def timed(times: dict[str, float], name: str, fn):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        times[name] += time.perf_counter() - started
        return result

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a checkpoint, e.g. a synthetic 20b")
    parser.add_argument("--tokens", default="1,16,64", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    engine = build_engine(args.model, EngineConfig(dtype="bfloat16", max_num_seqs=max(args.tokens)))
    model = engine.core.runner.model
    times: dict[str, float] = collections.defaultdict(float)
    for block in model.blocks:
        block.attn.forward = timed(times, "attention", block.attn.forward)
        block.mlp.forward = timed(times, "moe", block.mlp.forward)
    model.compute_logits = timed(times, "logits", model.compute_logits)
    print(f"{args.model}: kernels {kernels.current_isa() if kernels.available() else 'absent'}, "
          f"{torch.get_num_threads()} threads; ms per pass (second-fastest of {args.repeats})")
    kernels.set_num_threads(torch.get_num_threads())
    torch.set_num_threads(1)
    with torch.inference_mode():
        for n in args.tokens:
            runs = []
            for _ in range(args.repeats):
                cache = ContiguousKVCache(model.config.num_layers)
                model(torch.arange(1000, 1032), torch.arange(32), cache)  # the prefix
                times.clear()
                started = time.perf_counter()
                model.compute_logits(model(torch.arange(2000, 2000 + n), torch.arange(32, 32 + n), cache))
                runs.append((time.perf_counter() - started, dict(times)))
            wall, parts = sorted(runs, key=lambda run: run[0])[min(1, len(runs) - 1)]
            listed = ", ".join(f"{name} {1e3 * seconds:.0f}" for name, seconds in parts.items())
            print(f"N={n}: pass {1e3 * wall:.0f} ms ({listed})", flush=True)
    asyncio.run(engine.shutdown())


if __name__ == "__main__":
    main()
