"""How many tokens per second the HTTP layer alone can stream (no model: a scripted engine).

Starts the real app with uvicorn on 127.0.0.1 (in its own process) over a `ScriptedEngine` that
replays a long answer as fast as the server takes it, then opens C concurrent streaming Chat
Completions (or Completions) and counts the tokens delivered per second of wall time. Everything
that is not the model is on the path: pydantic validation, harmony rendering, the harmony stream
decoder, chunk JSON, SSE framing, uvicorn and the client's parsing.

    python benchmarks/http_stream.py --concurrency 1 8 32 --tokens 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import time

import httpx
import uvicorn

from gossamer.engine.protocol import SamplingParams
from gossamer.harmony.tokenizer import encode_text, load_harmony_encoding
from gossamer.server.app import create_app
from gossamer.server.state import ServerState
from gossamer.testing.scripted_engine import ScriptedEngine, harmony_reply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gpt_oss_script(num_tokens: int):
    answer = harmony_reply(reasoning="Thinking. " * 20, final=" ".join(f"w{i}" for i in range(num_tokens)))
    plain = encode_text(" ".join(f"w{i}" for i in range(num_tokens)))

    def script(prompt_ids: list[int], params: SamplingParams, index: int) -> list[int]:
        # Chat prompts are rendered harmony (dozens of tokens); the raw completion prompt is "go".
        return answer if len(prompt_ids) > 8 else plain

    return script


def run_server(port: int, num_tokens: int, tokens_per_step: int) -> None:
    engine = ScriptedEngine(
        gpt_oss_script(num_tokens), max_context_length=1_000_000, tokens_per_step=tokens_per_step
    )
    state = ServerState(engine=engine, encoding=load_harmony_encoding(), model_name="gpt-oss-20b")
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning")
    uvicorn.Server(config).run()


def start_server(num_tokens: int, tokens_per_step: int) -> tuple[str, multiprocessing.Process]:
    """The server in its own process, so the client's parsing does not share its GIL."""
    port = free_port()
    process = multiprocessing.Process(
        target=run_server, args=(port, num_tokens, tokens_per_step), daemon=True
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/health", timeout=1).raise_for_status()
            return url, process
        except httpx.HTTPError:
            if time.monotonic() > deadline or not process.is_alive():
                raise RuntimeError("the benchmark server did not start") from None
            time.sleep(0.1)


async def one_stream(client: httpx.AsyncClient, url: str, route: str, num_tokens: int) -> tuple[int, float]:
    """Returns (tokens received, seconds to the first token)."""
    if route == "chat":
        path, body = "/v1/chat/completions", {"messages": [{"role": "user", "content": "go"}]}
    else:
        path, body = "/v1/completions", {"prompt": "go"}
    body = {**body, "model": "gpt-oss-20b", "stream": True, "max_tokens": num_tokens,
            "stream_options": {"include_usage": True}}  # fmt: skip
    started = time.perf_counter()
    first = None
    usage_tokens = 0
    async with client.stream("POST", url + path, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk["choices"]:
                first = time.perf_counter() - started
            if chunk.get("usage"):
                usage_tokens = chunk["usage"]["completion_tokens"]
    return usage_tokens, first or 0.0


async def measure(url: str, route: str, concurrency: int, num_tokens: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        await one_stream(client, url, route, 50)  # warm-up
        started = time.perf_counter()
        results = await asyncio.gather(
            *(one_stream(client, url, route, num_tokens) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - started
    total = sum(tokens for tokens, _ in results)
    return {
        "route": route,
        "concurrency": concurrency,
        "tokens": total,
        "seconds": round(elapsed, 3),
        "tokens_per_s": round(total / elapsed, 1),
        "mean_ttft_ms": round(1000 * sum(t for _, t in results) / len(results), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--tokens", type=int, default=2000, help="tokens per stream")
    parser.add_argument(
        "--tokens-per-step", type=int, default=1, help="tokens per engine output (1 = like decode)"
    )
    parser.add_argument(
        "--routes", nargs="+", default=["chat", "completions"], choices=["chat", "completions"]
    )
    args = parser.parse_args()

    url, process = start_server(args.tokens, args.tokens_per_step)
    try:
        for route in args.routes:
            for concurrency in args.concurrency:
                print(json.dumps(asyncio.run(measure(url, route, concurrency, args.tokens))))
    finally:
        process.terminate()
        process.join(timeout=10)


if __name__ == "__main__":
    main()
