"""Engine throughput: single-stream decode tokens/s, aggregate tokens/s at several concurrencies, TTFT.

Runs the real async engine (model on its background thread, streams on asyncio) over a model
directory or a synthetic checkpoint of a preset shape (random weights, MXFP4 experts):

    python benchmarks/engine_throughput.py --preset tiny
    python benchmarks/engine_throughput.py --preset 20b --dtype bfloat16    # writes ~13 GB once
    python benchmarks/engine_throughput.py --model ~/.cache/gossamer/models/gpt-oss-20b

Every request gets its own random prompt (no prefix-cache hits), decodes greedily a fixed number
of tokens with stop tokens ignored; one warm-up request runs first; each figure is the median of
--repeats runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gossamer.engine import EngineConfig, build_engine
from gossamer.engine.async_engine import AsyncEngine
from gossamer.engine.protocol import SamplingParams
from gossamer.model.config import PRESETS


@dataclass(frozen=True)
class RunResult:
    concurrency: int
    num_tokens: int
    wall_s: float
    ttft_s: list[float]  # per request
    decode_tok_s: list[float]  # per request: tokens after the first / time after the first

    @property
    def aggregate_tok_s(self) -> float:
        return self.num_tokens / self.wall_s


async def one_request(engine: AsyncEngine, request_id: str, prompt: list[int], max_tokens: int
                      ) -> tuple[float, float, int]:
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)
    start = time.perf_counter()
    first = last = None
    count = 0
    async for out in engine.generate(request_id, prompt, params):
        now = time.perf_counter()
        if out.token_ids and first is None:
            first = now
        last = now
        count += len(out.token_ids)
    assert first is not None and last is not None
    decode = (count - 1) / (last - first) if count > 1 and last > first else float("nan")
    return first - start, decode, count


async def run(engine: AsyncEngine, concurrency: int, prompt_len: int, gen_len: int, vocab: int,
              seed: int) -> RunResult:
    g = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(0, min(vocab, 199_000), (prompt_len,), generator=g).tolist()
               for _ in range(concurrency)]
    start = time.perf_counter()
    results = await asyncio.gather(*(one_request(engine, f"r{seed}-{i}", p, gen_len)
                                     for i, p in enumerate(prompts)))
    wall = time.perf_counter() - start
    return RunResult(concurrency, sum(r[2] for r in results), wall, [r[0] for r in results],
                     [r[1] for r in results])


@torch.inference_mode()
def raw_decode_tok_s(model: torch.nn.Module, prompt_len: int, gen_len: int) -> float:
    """The model alone (its single-sequence contiguous cache, no engine): the yardstick for overhead."""
    from gossamer.model.attention import ContiguousKVCache

    cache = ContiguousKVCache(model.config.num_layers)
    hidden = model(torch.arange(1000, 1000 + prompt_len), torch.arange(prompt_len), cache)  # [N, hidden]
    start = time.perf_counter()
    for i in range(gen_len):
        token = model.compute_logits(hidden[-1:]).argmax(dim=-1)  # [1]
        hidden = model(token, torch.tensor([prompt_len + i], device=token.device), cache)
    return gen_len / (time.perf_counter() - start)


def model_dir(args: argparse.Namespace) -> Path:
    if args.model:
        return Path(args.model).expanduser()
    from gossamer.testing.checkpoint import write_checkpoint

    out = Path(args.checkpoint_dir or Path(tempfile.gettempdir()) / f"gossamer-bench-{args.preset}")
    if not (out / "config.json").exists():
        logging.info("writing a synthetic %s checkpoint to %s", args.preset, out)
        write_checkpoint(out, PRESETS[args.preset], layout="original", seed=0)
    return out


async def main_async(args: argparse.Namespace) -> None:
    path = model_dir(args)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    started = time.perf_counter()
    config = EngineConfig(dtype=args.dtype, device=args.device, kv_cache_memory_bytes=args.kv_cache_memory,
                          max_num_seqs=max(concurrencies), max_num_batched_tokens=args.max_batched_tokens)
    engine = build_engine(path, config)
    print(f"model {path} ({args.dtype}, {args.device}), loaded in {time.perf_counter() - started:.1f} s; "
          f"torch threads {torch.get_num_threads()}; prompt {args.prompt_len} tokens, "
          f"{args.gen_len} generated per request, median of {args.repeats}")
    vocab = engine.core.model_config.vocab_size
    try:
        await run(engine, 1, args.prompt_len, min(args.gen_len, 8), vocab, seed=10_000)  # warm-up
        raw = statistics.median(raw_decode_tok_s(engine.core.runner.model, args.prompt_len, args.gen_len)
                                for _ in range(args.repeats))
        rows = []
        for c in concurrencies:
            runs = [await run(engine, c, args.prompt_len, args.gen_len, vocab, seed=100 * c + r)
                    for r in range(args.repeats)]
            rows.append((
                c,
                statistics.median(r.aggregate_tok_s for r in runs),
                statistics.median(statistics.median(r.decode_tok_s) for r in runs),
                statistics.median(statistics.median(r.ttft_s) for r in runs),
                statistics.median(max(r.ttft_s) for r in runs),
            ))
    finally:
        await engine.shutdown()
    single = next((r[2] for r in rows if r[0] == 1), float("nan"))
    print(f"\nsingle-stream decode: {single:.1f} tok/s through the engine; "
          f"{raw:.1f} tok/s for the bare model with a contiguous cache (same run)\n")
    print("| concurrency | aggregate tok/s | per-stream decode tok/s | TTFT median (s) | TTFT max (s) |")
    print("|---:|---:|---:|---:|---:|")
    for c, agg, per_stream, ttft, ttft_max in rows:
        print(f"| {c} | {agg:.1f} | {per_stream:.1f} | {ttft:.3f} | {ttft_max:.3f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="a model directory (either layout)")
    source.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                        help="shape of a synthetic random checkpoint (default tiny)")
    parser.add_argument("--checkpoint-dir", help="where to write/reuse the synthetic checkpoint")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--prompt-len", type=int, default=128)
    parser.add_argument("--gen-len", type=int, default=64)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kv-cache-memory", default="1GiB")
    parser.add_argument("--max-batched-tokens", type=int, default=512)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
