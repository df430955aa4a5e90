"""Serving under load: gossamer's server against llama.cpp's own `llama-server`, over HTTP.

    python benchmarks/serve_load.py --gossamer-model /tmp/gb/20b --gguf /tmp/gb/20b.gguf \\
        --llama-server /path/to/llama-server --concurrency 1,4,16 --rounds 2

Both servers get the same random 20b-shaped weights (benchmarks/cpu_vs_llamacpp.py writes the
checkpoint and its GGUF), 16 sequences at once (llama-server: continuous batching, 16 slots;
gossamer: 16 concurrent requests), 2 threads. One client drives both: every request sends a
prompt of token ids and streams its completion (greedy, end-of-sequence ignored, fixed length),
each stream with its own random prompt (no shared prefixes); the prompts are the same for both
servers. Per concurrency level it reports the aggregate decode rate (tokens generated while
every stream was decoding, over that window), the aggregate rate over the whole run, and p50/p99
of time to first token and inter-token latency (every gap between tokens of a stream, a chunk
of several tokens counting each at the gap divided by their number). Prefill: one request at a
time with max_tokens 1, prompt length / time to first token.

Only one server runs at a time (a 20b model each); with --rounds R they take turns R times, a
fresh server process per turn, since the shared machine's memory bandwidth drifts over minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

logger = logging.getLogger("serve_load")

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_ORDINARY_TOKEN = 199998  # o200k ordinary tokens: ids below the first special token
WARMUP_GEN = 16


@dataclass
class Stream:
    sent_s: float
    token_times_s: list[float] = field(default_factory=list)  # one entry per token, chunk time

    @property
    def ttft_s(self) -> float:
        return self.token_times_s[0] - self.sent_s


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --------------------------------------------------------------------------- servers
def start_gossamer(model: Path, port: int, threads: int, max_seqs: int, ctx: int,
                   isa: str | None = None) -> Server:
    """isa: GOSSAMER_KERNELS_ISA for this server (engine name `gossamer:ISA`), to compare kernels."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "OMP_NUM_THREADS": str(threads)}
    if isa:
        env["GOSSAMER_KERNELS_ISA"] = isa
    cmd = [sys.executable, "-m", "gossamer.server.main", "--model", str(model), "--port", str(port),
           "--served-model-name", "bench",
           "--max-concurrent-requests", str(max_seqs), "--max-context-length", str(ctx),
           "--kv-cache-memory-bytes", "2GiB", "--log-level", "warning"]
    name = f"gossamer:{isa}" if isa else "gossamer"
    return Server(name, f"http://127.0.0.1:{port}", subprocess.Popen(cmd, env=env))


def start_llama(binary: Path, gguf: Path, port: int, threads: int, slots: int, ctx: int) -> Server:
    # Continuous batching (the default) with `slots` parallel sequences, each with ctx positions;
    # llama.cpp's defaults otherwise (CPU repacking of the experts on, flash attention auto).
    cmd = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-t", str(threads),
           "-tb", str(threads), "-np", str(slots), "-c", str(slots * ctx), "-b", "2048", "-ub", "512",
           "--cont-batching", "--no-webui"]
    log = open(Path("/tmp") / f"llama-server-{port}.log", "w")  # noqa: SIM115 - lives as long as the server
    return Server("llama.cpp", f"http://127.0.0.1:{port}", subprocess.Popen(cmd, stdout=log, stderr=log))


async def wait_ready(server: Server, timeout_s: float = 900) -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient() as client:
        while time.perf_counter() - started < timeout_s:
            if server.process.poll() is not None:
                raise SystemExit(f"{server.name} exited with {server.process.returncode}")
            try:
                if (await client.get(server.url + "/health", timeout=5)).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(2)
    raise SystemExit(f"{server.name} not ready after {timeout_s} s")


# --------------------------------------------------------------------------- the client
def request_body(server: Server, prompt: list[int], max_tokens: int) -> tuple[str, dict[str, Any]]:
    """The same request in each server's dialect: token ids in, greedy, EOS ignored, streamed."""
    if server.name.startswith("gossamer"):
        body = {"model": "bench", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                "stream": True, "ignore_eos": True, "return_token_ids": True}
        return "/v1/completions", body
    return "/completion", {"prompt": prompt, "n_predict": max_tokens, "temperature": 0, "stream": True,
                           "ignore_eos": True, "cache_prompt": False}


def chunk_tokens(server: Server, data: dict[str, Any], so_far: int) -> int:
    """Tokens a streamed chunk brings. llama-server's running count is the reliable one: a token
    that ends inside a UTF-8 character may come with an empty `tokens` list."""
    if server.name.startswith("gossamer"):
        return sum(len(choice.get("token_ids") or []) for choice in data.get("choices", []))
    return int(data.get("tokens_predicted") or 0) - so_far


async def one_stream(client: httpx.AsyncClient, server: Server, prompt: list[int], max_tokens: int
                     ) -> Stream:
    path, body = request_body(server, prompt, max_tokens)
    stream = Stream(time.perf_counter())
    async with client.stream("POST", server.url + path, json=body, timeout=3600) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            num = chunk_tokens(server, json.loads(line[6:]), len(stream.token_times_s))
            if num:
                stream.token_times_s += [time.perf_counter()] * num
    if len(stream.token_times_s) != max_tokens:
        raise SystemExit(f"{server.name}: expected {max_tokens} tokens, got {len(stream.token_times_s)}")
    return stream


def prompts(seed: int, count: int, length: int) -> list[list[int]]:
    rng = np.random.RandomState(seed)
    return [rng.randint(0, MAX_ORDINARY_TOKEN, size=length).tolist() for _ in range(count)]


def level_stats(streams: list[Stream], wall_s: float) -> dict[str, float]:
    gaps = []
    for s in streams:
        times = s.token_times_s
        for i in range(1, len(times)):
            if times[i] != times[i - 1]:
                # a chunk of k tokens: k gaps of (its time - the previous chunk's) / k
                j = i
                while j + 1 < len(times) and times[j + 1] == times[i]:
                    j += 1
                gaps += [(times[i] - times[i - 1]) / (j - i + 1)] * (j - i + 1)
    # Steady state: from the last stream's first token to the first stream's last token.
    start = max(s.token_times_s[0] for s in streams)
    stop = min(s.token_times_s[-1] for s in streams)
    in_window = sum(1 for s in streams for t in s.token_times_s if start < t <= stop)
    ttft = [s.ttft_s for s in streams]
    return {
        "decode_tok_s": in_window / (stop - start) if stop > start else float("nan"),
        "total_tok_s": sum(len(s.token_times_s) for s in streams) / wall_s,
        "ttft_p50_s": float(np.percentile(ttft, 50)),
        "ttft_p99_s": float(np.percentile(ttft, 99)),
        "itl_p50_s": float(np.percentile(gaps, 50)) if gaps else float("nan"),
        "itl_p99_s": float(np.percentile(gaps, 99)) if gaps else float("nan"),
    }


async def run_level(server: Server, concurrency: int, prompt_len: int, gen_len: int, seed: int
                    ) -> dict[str, float]:
    batch = prompts(seed, concurrency, prompt_len)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:
        started = time.perf_counter()
        streams = await asyncio.gather(*(one_stream(client, server, p, gen_len) for p in batch))
        return level_stats(list(streams), time.perf_counter() - started)


async def run_prefill(server: Server, prompt_len: int, seed: int, repeats: int) -> list[float]:
    rates = []
    async with httpx.AsyncClient() as client:
        for prompt in prompts(seed, repeats, prompt_len):
            stream = await one_stream(client, server, prompt, 1)
            rates.append(prompt_len / stream.ttft_s)
    return rates


async def bench_server(server: Server, args: argparse.Namespace, round_index: int) -> dict[str, Any]:
    load_s = await wait_ready(server)
    logger.info("%s ready in %.0f s", server.name, load_s)
    results: dict[str, Any] = {"load_s": load_s, "levels": {}, "prefill": {}}
    # Warm-up: a prompt long enough to route to every expert, and some decode steps. The first
    # passes over freshly loaded weights run several times slower (page faults, the kernel
    # gathering huge pages), in both engines.
    async with httpx.AsyncClient() as client:
        await one_stream(client, server, prompts(999, 1, args.warmup_tokens)[0], WARMUP_GEN)
    for concurrency in args.concurrency:
        # The same prompts for both servers in a round; other prompts in the next round.
        level = await run_level(server, concurrency, args.prompt_tokens, args.gen_tokens,
                                seed=1000 * round_index + concurrency)
        level["load_avg_1m"] = os.getloadavg()[0]  # the host is shared: what else ran meanwhile
        logger.info("%s c=%d %s", server.name, concurrency,
                    json.dumps({k: round(v, 3) for k, v in level.items()}))
        results["levels"][concurrency] = level
    for length in args.prefill_tokens:
        rates = await run_prefill(server, length, seed=50_000 + 1000 * round_index + length,
                                  repeats=args.prefill_runs)
        logger.info("%s prefill %d: %s tok/s (load average %.2f)", server.name, length,
                    [round(r, 1) for r in rates], os.getloadavg()[0])
        results["prefill"][length] = rates
        results.setdefault("prefill_load_avg_1m", {})[length] = os.getloadavg()[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gossamer-model", type=Path, required=True)
    parser.add_argument("--gguf", type=Path, help="needed with the llama engine")
    parser.add_argument("--llama-server", type=Path, help="needed with the llama engine")
    parser.add_argument("--engines", default="gossamer,llama",
                        help="comma-separated: gossamer, llama, or gossamer:ISA (GOSSAMER_KERNELS_ISA for "
                             "that server, e.g. gossamer:avx512bf16,gossamer:avx512amx)")
    parser.add_argument("--concurrency", default="1,4,16",
                        type=lambda s: [int(c) for c in s.split(",") if c])
    parser.add_argument("--warmup-tokens", type=int, default=256,
                        help="warm-up prompt: enough tokens (x 4 experts each) to touch every expert")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--prefill-tokens", default="512,2048",
                        type=lambda s: [int(c) for c in s.split(",") if c])
    parser.add_argument("--prefill-runs", type=int, default=2)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    if "llama" in args.engines.split(",") and not (args.gguf and args.llama_server):
        parser.error("the llama engine needs --gguf and --llama-server")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    ctx = max(args.prompt_tokens + args.gen_tokens, *args.prefill_tokens,
              args.warmup_tokens + WARMUP_GEN) + 64
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "rounds": []}
    for round_index in range(args.rounds):
        this_round = {}
        for engine in args.engines.split(","):
            if engine.split(":")[0] == "gossamer":
                isa = engine.partition(":")[2] or None
                server = start_gossamer(args.gossamer_model, args.port, args.threads, args.slots, ctx, isa)
            else:
                server = start_llama(args.llama_server, args.gguf, args.port, args.threads, args.slots, ctx)
            try:
                this_round[server.name] = asyncio.run(bench_server(server, args, round_index))
            finally:
                server.stop()
            if args.json_out:
                partial = {**report, "rounds": [*report["rounds"], this_round]}
                args.json_out.write_text(json.dumps(partial, indent=1))
        report["rounds"].append(this_round)
    print_report(report, args)


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    rounds = report["rounds"]
    engines = list(rounds[0])
    print(f"\n{args.prompt_tokens}-token prompts, {args.gen_tokens} tokens each, "
          f"medians over {len(rounds)} rounds")
    print("| streams | engine | decode tok/s (all streams decoding) | tok/s overall | TTFT p50 / p99 s "
          "| ITL p50 / p99 ms | load average (1 min) |")
    print("|---|---|---|---|---|---|---|")
    for c in args.concurrency:
        for engine in engines:
            levels = [r[engine]["levels"][c] for r in rounds if engine in r]
            med = {key: statistics.median(level[key] for level in levels) for key in levels[0]}
            print(f"| {c} | {engine} | {med['decode_tok_s']:.2f} | {med['total_tok_s']:.2f} | "
                  f"{med['ttft_p50_s']:.2f} / {med['ttft_p99_s']:.2f} | "
                  f"{1e3 * med['itl_p50_s']:.0f} / {1e3 * med['itl_p99_s']:.0f} | "
                  f"{med.get('load_avg_1m', float('nan')):.1f} |")
    for length in args.prefill_tokens:
        medians = {engine: statistics.median(rate for r in rounds if engine in r
                                             for rate in r[engine]["prefill"][length]) for engine in engines}
        loads = {engine: statistics.median(r[engine]["prefill_load_avg_1m"][length] for r in rounds
                                           if engine in r) for engine in engines}
        listed = ", ".join(f"{e} {v:.1f} (load average {loads[e]:.1f})" for e, v in medians.items())
        print(f"prefill {length} tokens (tok/s, median): {listed}")
        if len(engines) == 2:
            a, b = engines
            ratios = [statistics.median(r[a]["prefill"][length]) / statistics.median(r[b]["prefill"][length])
                      for r in rounds if a in r and b in r]
            print(f"prefill {length} {a} / {b}, per round: " + ", ".join(f"{x:.2f}" for x in ratios))
    if len(engines) == 2:
        a, b = engines
        for c in args.concurrency:
            ratios = [r[a]["levels"][c]["decode_tok_s"] / r[b]["levels"][c]["decode_tok_s"]
                      for r in rounds if a in r and b in r]
            print(f"decode {a} / {b} at {c} streams, per round: " + ", ".join(f"{x:.2f}" for x in ratios))


if __name__ == "__main__":
    main()
