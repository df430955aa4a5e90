"""Soak: a real `gossamer serve` under steady mixed load for minutes; does its memory stay flat?

    python benchmarks/soak.py --duration-s 600 --warmup-s 120 --concurrency 4

Starts `gossamer serve` on the embedded model (gossamer-tiny, or --model) on 127.0.0.1 with a
Responses store in a temporary folder, then keeps `--concurrency` clients busy until the
duration is up. Each request is drawn (seeded) from a mix: Chat Completions, Responses and
Ollama chat/generate, streamed and not, some with a tool or a JSON schema to follow, some chained
on an earlier stored response, and some streams whose client hangs up after a few lines. Every
few seconds it samples the resident memory (VmRSS from /proc, Linux only) of the server and of its
children (the render process), anonymous memory apart from mapped files. The KV cache is small by
default (--kv-cache), so that the warm-up makes all of it resident. After the warm-up it fits a
least-squares line to the samples and reports the slope in MB per minute, RSS at the start and end
of that window, the requests done by kind and every error: a 5xx, an unexpected 4xx, a failed
stream, a client error, and ERROR or Traceback lines in the server's log. Not part of the test
suite (it takes minutes by design).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

logger = logging.getLogger("soak")

REPO_ROOT = Path(__file__).resolve().parent.parent
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
    "required": ["city", "celsius"],
    "additionalProperties": False,
}
PROMPTS = ["Hello!", "What's the weather in Paris?", "Name three colours.", "Count to five.", "Say hi."]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_value(pid: int, name: str) -> int:
    """A number from /proc/PID/status: "VmRSS" (KiB), "Threads" (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    return status_value(pid, "VmRSS")


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces and parentheses: the fields start after the last ')'.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


@dataclass
class Tally:
    done: Counter = field(default_factory=Counter)  # requests completed (or left on purpose), by kind
    errors: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    stored_ids: list[str] = field(default_factory=list)  # for chaining (previous_response_id)

    def error(self, kind: str, what: str) -> None:
        self.errors.append(f"{kind}: {what}")
        logger.warning("%s: %s", kind, what[:300])


@dataclass
class Request:
    kind: str
    path: str
    body: dict
    stream: bool
    leave_after_lines: int | None = None  # a client that hangs up mid-stream


def draw(rng: random.Random, model: str, max_tokens: int, tally: Tally) -> Request:
    prompt = rng.choice(PROMPTS)
    messages = [{"role": "user", "content": prompt}]
    stream = rng.random() < 0.5
    leave = rng.randint(1, 6) if stream and rng.random() < 0.15 else None
    choice = rng.randrange(8)
    if choice == 0:
        body = {"model": model, "messages": messages, "max_tokens": max_tokens}
        return Request("chat", "/v1/chat/completions", body, stream, leave)
    if choice == 1:
        body = {"model": model, "messages": messages, "max_tokens": max_tokens, "tools": [WEATHER_TOOL]}
        return Request("chat+tools", "/v1/chat/completions", body, stream, leave)
    if choice == 2:
        fmt = {
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": ANSWER_SCHEMA, "strict": True},
        }
        body = {"model": model, "messages": messages, "max_tokens": max_tokens, "response_format": fmt}
        return Request("chat+schema", "/v1/chat/completions", body, stream, leave)
    if choice in (3, 4):
        body = {"model": model, "input": prompt, "max_output_tokens": max_tokens, "store": rng.random() < 0.7}
        if choice == 4 and tally.stored_ids:
            body = {**body, "store": True, "previous_response_id": rng.choice(tally.stored_ids[-50:])}
        return Request(
            "responses" if choice == 3 else "responses+chain", "/v1/responses", body, stream, leave
        )
    if choice == 5:
        body = {
            "model": model,
            "input": prompt,
            "max_output_tokens": max_tokens,
            "tools": [{"type": "function", **WEATHER_TOOL["function"]}],
        }
        return Request("responses+tools", "/v1/responses", body, stream, leave)
    options = {"num_predict": max_tokens}
    if choice == 6:
        body = {"model": model, "messages": messages, "options": options, "stream": stream}
        return Request("ollama-chat", "/api/chat", body, stream, leave)
    body = {"model": model, "prompt": prompt, "options": options, "stream": stream}
    return Request("ollama-generate", "/api/generate", body, stream, leave)


async def send(client: httpx.AsyncClient, request: Request, tally: Tally) -> None:
    body = request.body if request.path.startswith("/api/") else {**request.body, "stream": request.stream}
    start = time.perf_counter()
    try:
        if not request.stream:
            answer = await client.post(request.path, json=body)
            if answer.status_code != 200:
                tally.error(request.kind, f"HTTP {answer.status_code}: {answer.text[:300]}")
                return
            if request.path == "/v1/responses":
                response = answer.json()
                if response["status"] == "failed":
                    tally.error(request.kind, f"failed: {response.get('error')}")
                elif body.get("store"):
                    tally.stored_ids.append(response["id"])
        else:
            async with client.stream("POST", request.path, json=body) as answer:
                if answer.status_code != 200:
                    await answer.aread()
                    tally.error(request.kind, f"HTTP {answer.status_code}: {answer.text[:300]}")
                    return
                num_lines = 0
                async for line in answer.aiter_lines():
                    num_lines += 1
                    if request.leave_after_lines is not None and num_lines >= request.leave_after_lines:
                        break  # this client hangs up mid-answer
                    if '"response.failed"' in line or line.startswith('{"error"') or "event: error" in line:
                        tally.error(request.kind, f"stream: {line[:300]}")
                        return
                    if body.get("store") and line.startswith("data: ") and '"response.completed"' in line:
                        tally.stored_ids.append(json.loads(line[6:])["response"]["id"])
    except (httpx.HTTPError, json.JSONDecodeError, KeyError) as exc:
        tally.error(request.kind, f"{type(exc).__name__}: {exc}")
        return
    tally.latencies_s.append(time.perf_counter() - start)
    tally.done[request.kind + (" (left)" if request.leave_after_lines is not None else "")] += 1


async def client_loop(
    url: str, model: str, seed: int, deadline: float, args: argparse.Namespace, tally: Tally
) -> None:
    rng = random.Random(seed)
    kinds = set(args.kinds.split(",")) if args.kinds else None
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        while time.monotonic() < deadline:
            request = draw(rng, model, args.max_tokens, tally)
            if kinds is None or request.kind in kinds:
                await send(client, request, tally)


@dataclass(frozen=True)
class Sample:
    """One reading of the server's memory (KiB). RSS counts file pages mapped into the process too
    (SQLite's, the model's), so anonymous memory, where a leak would show, is kept apart."""

    t: float  # seconds since the soak started
    rss: int
    anon: int  # RssAnon: the heap, torch's buffers
    file: int  # RssFile: pages of mapped files
    kids: int  # the children's RSS (the render process)
    threads: int


async def sample_rss(pid: int, every_s: float, deadline: float, samples: list[Sample], tally: Tally) -> None:
    """A Sample every `every_s` until the deadline, and a progress line about once a minute (the run
    takes minutes by design)."""
    start = time.monotonic()
    next_report = start + 60
    while time.monotonic() < deadline:
        kids = sum(rss_kib(child) for child in children_of(pid))
        sample = Sample(
            time.monotonic() - start,
            rss_kib(pid),
            status_value(pid, "RssAnon"),
            status_value(pid, "RssFile"),
            kids,
            status_value(pid, "Threads"),
        )
        samples.append(sample)
        if time.monotonic() >= next_report:
            next_report += 60
            logger.info(
                "%4.0f s of %.0f: RSS %.1f MB (anonymous %.1f, +%.1f MB children), %d requests, %d errors",
                sample.t, deadline - start, sample.rss / 1024, sample.anon / 1024, kids / 1024,
                sum(tally.done.values()), len(tally.errors),
            )  # fmt: skip
        await asyncio.sleep(every_s)


def slope_mb_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (y - mean_y) for t, y in points)
    return cov / var * 60 if var else 0.0


def start_server(model: str | None, port: int, work: Path, extra_args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "GOSSAMER_HOME": str(work / "home")}
    where = ["--host", "127.0.0.1", "--port", str(port), "--responses-store", str(work / "responses.sqlite3")]
    command = [sys.executable, "-m", "gossamer.cli", "serve", *([model] if model else []), *where]
    log = (work / "server.log").open("w")
    command += ["--log-level", "warning", *extra_args]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float) -> str:
    """The served model's name, once /health answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            answer = httpx.get(url + "/health", timeout=2)
            if answer.status_code == 200:
                return answer.json()["model"]
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the server did not come up")


async def soak(args: argparse.Namespace, url: str, pid: int, model: str) -> tuple[Tally, list[Sample]]:
    tally = Tally()
    samples: list[Sample] = []
    deadline = time.monotonic() + args.duration_s
    await asyncio.gather(
        sample_rss(pid, args.sample_s, deadline, samples, tally),
        *(client_loop(url, model, args.seed + i, deadline, args, tally) for i in range(args.concurrency)),
    )
    return tally, samples


def report(args: argparse.Namespace, tally: Tally, samples: list[Sample], log_text: str) -> dict:
    after = [s for s in samples if s.t >= args.warmup_s]
    window = [(s.t, (s.rss + s.kids) / 1024) for s in after]
    server_only = [(s.t, s.rss / 1024) for s in after]
    anon = [(s.t, s.anon / 1024) for s in after]
    file = [(s.t, s.file / 1024) for s in after]
    log_errors = [line for line in log_text.splitlines() if "ERROR" in line or "Traceback" in line]
    latencies = sorted(tally.latencies_s)
    return {
        "duration_s": args.duration_s,
        "warmup_s": args.warmup_s,
        "concurrency": args.concurrency,
        "num_samples_after_warmup": len(window),
        "rss_mb_at_warmup_end": round(window[0][1], 1) if window else None,
        "rss_mb_at_end": round(window[-1][1], 1) if window else None,
        "rss_mb_min_max": [round(min(y for _, y in window), 1), round(max(y for _, y in window), 1)]
        if window
        else None,
        "slope_mb_per_min": round(slope_mb_per_min(window), 3) if len(window) > 1 else None,
        "server_only_slope_mb_per_min": round(slope_mb_per_min(server_only), 3)
        if len(server_only) > 1
        else None,
        "anonymous_slope_mb_per_min": round(slope_mb_per_min(anon), 3) if len(anon) > 1 else None,
        "file_mapped_slope_mb_per_min": round(slope_mb_per_min(file), 3) if len(file) > 1 else None,
        "anonymous_mb_at_warmup_end_and_end": [round(anon[0][1], 1), round(anon[-1][1], 1)] if anon else None,
        "rss_mb_first_sample": round((samples[0].rss + samples[0].kids) / 1024, 1) if samples else None,
        "children_rss_mb_at_end": round(samples[-1].kids / 1024, 1) if samples else None,
        "server_threads_first_last": [samples[0].threads, samples[-1].threads] if samples else None,
        "requests_done": sum(tally.done.values()),
        "requests_by_kind": dict(sorted(tally.done.items())),
        "latency_s_p50_p99": [
            round(latencies[len(latencies) // 2], 3),
            round(latencies[int(0.99 * (len(latencies) - 1))], 3),
        ]
        if latencies
        else None,
        "errors": len(tally.errors),
        "error_examples": tally.errors[:10],
        "server_log_error_lines": len(log_errors),
        "server_log_error_examples": log_errors[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="model to serve (default: the embedded gossamer-tiny)")
    parser.add_argument("--duration-s", type=float, default=600.0)
    parser.add_argument("--warmup-s", type=float, default=120.0, help="samples before this are not fitted")
    parser.add_argument("--concurrency", type=int, default=4, help="clients, each one request at a time")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--max-tokens", type=int, default=48, help="output tokens per request at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kinds", default="", help="only these request kinds, comma-separated (e.g. chat,ollama-chat)"
    )
    parser.add_argument(
        "--kv-cache",
        default="32MiB",
        help="the server's KV cache budget ('' for its default, 1 GiB): the cache is allocated untouched "
        "and becomes resident block by block as blocks are first used, so a budget larger than the "
        "warm-up fills keeps RSS rising for its whole size without anything leaking",
    )
    parser.add_argument(
        "--serve-args", default="", help="more flags for gossamer serve, e.g. '--max-queue 8'"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the report (JSON) here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request

    with tempfile.TemporaryDirectory(prefix="gossamer-soak-") as tmp:
        work = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        kv_cache = ["--kv-cache-memory-bytes", args.kv_cache] if args.kv_cache else []
        process = start_server(args.model, port, work, [*kv_cache, *shlex.split(args.serve_args)])
        try:
            try:
                model = wait_healthy(url, process, timeout_s=300)
            except (RuntimeError, TimeoutError):
                sys.stderr.write((work / "server.log").read_text()[-4000:])
                raise
            logger.info(
                "serving %s at %s (pid %d); soaking for %.0f s", model, url, process.pid, args.duration_s
            )
            tally, samples = asyncio.run(soak(args, url, process.pid, model))
            alive = process.poll() is None and httpx.get(url + "/health", timeout=10).status_code == 200
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        summary = {
            "model": model,
            **report(args, tally, samples, (work / "server.log").read_text()),
            "server_alive_at_end": alive,
        }
    points = [[round(s.t, 1), round((s.rss + s.kids) / 1024, 1), round(s.anon / 1024, 1)] for s in samples]
    # One line for the samples: (elapsed s, RSS MB of the server and its children, anonymous MB).
    text = json.dumps(summary, indent=2)[:-2] + ',\n  "rss_samples": ' + json.dumps(points) + "\n}"
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
