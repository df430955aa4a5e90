"""What a Gossamer front adds in front of a replica: time to first token and time per token.

Starts one replica (a Gossamer server on the embedded model, or with --replica scripted a server
over a scripted engine that emits a token every --step-ms, so the model's own noise is out of the
picture) and a front (`gossamer serve --upstream <replica>`), each its own process on 127.0.0.1.
Then, for each concurrency, rounds alternate: C concurrent streams straight to the replica, C
through the front (which goes first alternates too). Each stream is a streamed request with a fixed
output length (ignore_eos, max_tokens), so both sides generate the same tokens.

Per stream: TTFT (request sent -> first token's chunk) and time per token after the first. Per
round: the medians; reported: the median over rounds of direct, front, front - direct and
front / direct. This machine may be shared: the ratios from alternating rounds are the figure to
quote, not any single time.

    python benchmarks/upstream_overhead.py --concurrency 1 16 --rounds 6
    python benchmarks/upstream_overhead.py --replica scripted --step-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
PROMPT = "<|start|>user<|message|>Tell me about the weather in Paris.<|end|><|start|>assistant"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SCRIPTED_SERVER = """
import sys, uvicorn
from gossamer.harmony.tokenizer import encode_text, load_harmony_encoding
from gossamer.server.app import create_app
from gossamer.server.settings import ServerSettings
from gossamer.server.state import ServerState
from gossamer.testing.scripted_engine import ScriptedEngine
port, step_s = int(sys.argv[1]), float(sys.argv[2])
words = encode_text(" ".join(f"w{i}" for i in range(4000)))
engine = ScriptedEngine(lambda p, s, i: words, max_context_length=65536, step_delay_s=step_s)
settings = ServerSettings(port=port, responses_store=":memory:", max_concurrent_requests=64)
encoding = load_harmony_encoding()
state = ServerState(engine=engine, encoding=encoding, model_name="gossamer-tiny", settings=settings)
uvicorn.run(create_app(state), host="127.0.0.1", port=port, log_level="warning")
"""


def start(command: list[str], url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{command[:4]} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not come up")
        time.sleep(0.2)


@dataclass
class Stream:
    ttft_s: float
    per_token_s: float
    num_tokens: int


async def one_stream(client: httpx.AsyncClient, url: str, num_tokens: int) -> Stream:
    body = {
        "model": "gossamer-tiny", "prompt": PROMPT, "max_tokens": num_tokens, "temperature": 0,
        "ignore_eos": True, "stream": True,
    }  # fmt: skip
    sent = time.perf_counter()
    first = last = None
    count = 0
    async with client.stream("POST", url + "/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or []
            if choices and choices[0].get("text"):
                now = time.perf_counter()
                first = first or now
                last = now
                count += 1
    assert first is not None and last is not None, "no text came back"
    # Chunks, not tokens: a chunk is one token here except where UTF-8 holds text back.
    return Stream(first - sent, (last - first) / max(count - 1, 1), count)


async def one_round(url: str, concurrency: int, num_tokens: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        streams = await asyncio.gather(*(one_stream(client, url, num_tokens) for _ in range(concurrency)))
    return statistics.median(s.ttft_s for s in streams), statistics.median(s.per_token_s for s in streams)


def summarize(direct: list[float], front: list[float]) -> str:
    d, f = statistics.median(direct), statistics.median(front)
    ratios = statistics.median(fr / dr for dr, fr in zip(direct, front, strict=True))
    return f"{d * 1e3:8.2f} {f * 1e3:8.2f} {(f - d) * 1e3:+8.2f} {ratios:6.3f}"


async def measure(direct_url: str, front_url: str, concurrency: int, rounds: int, num_tokens: int) -> None:
    await one_round(direct_url, concurrency, num_tokens)  # warm both paths (compiled kernels, pools)
    await one_round(front_url, concurrency, num_tokens)
    results: dict[str, list[tuple[float, float]]] = {"direct": [], "front": []}
    for r in range(rounds):
        order = [("direct", direct_url), ("front", front_url)]
        for name, url in order if r % 2 == 0 else reversed(order):
            results[name].append(await one_round(url, concurrency, num_tokens))
    for i, what in enumerate(("TTFT", "per token")):
        line = summarize([x[i] for x in results["direct"]], [x[i] for x in results["front"]])
        print(f"{concurrency:>5} {what:<10} {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=64, help="output tokens per stream")
    parser.add_argument("--replica", choices=["tiny", "scripted"], default="tiny")
    parser.add_argument("--step-ms", type=float, default=20.0, help="scripted replica: ms per token")
    args = parser.parse_args()

    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    replica_port, front_port = free_port(), free_port()
    replica_url, front_url = f"http://127.0.0.1:{replica_port}", f"http://127.0.0.1:{front_port}"
    if args.replica == "tiny":
        replica_cmd = [sys.executable, "-m", "gossamer.server.main", "--port", str(replica_port),
                       "--dtype", "float32", "--responses-store", ":memory:", "--log-level", "warning",
                       "--max-concurrent-requests", "32"]  # fmt: skip
    else:
        replica_cmd = [sys.executable, "-c", SCRIPTED_SERVER, str(replica_port), str(args.step_ms / 1e3)]
    front_cmd = [sys.executable, "-m", "gossamer.server.main", "--port", str(front_port), "--upstream",
                 replica_url, "--responses-store", ":memory:", "--log-level", "warning"]  # fmt: skip
    processes = []
    try:
        processes.append(start(replica_cmd, replica_url, logs / "upstream_bench_replica.log"))
        processes.append(start(front_cmd, front_url, logs / "upstream_bench_front.log"))
        print(f"replica: {args.replica}; {args.tokens} tokens per stream; {args.rounds} alternating rounds")
        print(f"{'C':>5} {'metric':<10} {'direct':>8} {'front':>8} {'added':>8} {'ratio':>6}   (ms; medians)")
        for concurrency in args.concurrency:
            asyncio.run(measure(replica_url, front_url, concurrency, args.rounds, args.tokens))
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
