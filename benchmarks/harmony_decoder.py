"""Streaming harmony decoder throughput: completion tokens per second, one token per feed.

The decoder runs once per sampled token of every stream, so it must be far faster than any model
(gpt-oss-20b decodes at tens to a few hundred tokens/s per stream).

    python3 -m benchmarks.harmony_decoder [--tokens 200000]   (from the repository root)
"""

from __future__ import annotations

import argparse
import logging
import time

from gossamer.harmony.stream import StreamDecoder
from gossamer.harmony.tokenizer import load_harmony_encoding, token_table


def sample_completion(num_tokens: int) -> list[int]:
    """A realistic mix: reasoning, a preamble, a tool call, then a final answer with non-ASCII text."""
    encoding = load_harmony_encoding()
    reasoning = "The user asks about the weather in Zürich; I should call the tool first. " * 40
    answer = "It is 21 °C and sunny in Zürich today — enjoy it! 😀 " * 40
    turn = (
        f"<|channel|>analysis<|message|>{reasoning}<|end|>"
        "<|start|>assistant<|channel|>commentary<|message|>Checking the forecast.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
        '{"location": "Zürich", "unit": "celsius", "days": [1, 2, 3]}<|end|>'
        f"<|start|>assistant<|channel|>final<|message|>{answer}<|end|><|start|>assistant"
    )
    turn_ids = encoding.encode(turn, allowed_special="all")
    ids: list[int] = []
    while len(ids) < num_tokens:
        ids += turn_ids
    return ids[:num_tokens]


def bench(token_ids: list[int], chunk: int) -> float:
    decoder = StreamDecoder()
    start = time.perf_counter()
    for i in range(0, len(token_ids), chunk):
        decoder.feed(token_ids[i : i + chunk])
    decoder.finish()
    return len(token_ids) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    token_table()  # built once per process; not part of the per-token cost
    token_ids = sample_completion(args.tokens)
    start = time.perf_counter()
    StreamDecoder()
    print(f"decoder construction: {(time.perf_counter() - start) * 1e6:.0f} us")
    for chunk in (1, 16):
        best = max(bench(token_ids, chunk) for _ in range(args.repeats))
        rate = f"{best:,.0f} tokens/s ({args.tokens:,} tokens)"
        print(f"streaming decoder, {chunk:>2} token(s) per feed: {rate}")


if __name__ == "__main__":
    main()
