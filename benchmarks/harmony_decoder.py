"""Streaming harmony decoder throughput (completion tokens per second, one token per feed), and the
time to render a prompt.

The decoder runs once per sampled token of every stream, so it must be far faster than any model
(gpt-oss-20b decodes at tens to a few hundred tokens/s per stream).

    python3 -m benchmarks.harmony_decoder [--tokens 200000]   (from the repository root)
"""

from __future__ import annotations

import argparse
import logging
import time

from gossamer.harmony.conversation import Conversation, FunctionTool, Message, ToolCallItem
from gossamer.harmony.render import render_conversation
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


def bench_render(repeats: int = 50) -> float:
    """Milliseconds to render a multi-turn tool conversation (once per request, before prefill)."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    turns = [
        Message("system", "You are a helpful assistant."),
        Message("user", "Weather in Zürich?"),
        Message(
            "assistant", reasoning="Call the tool.", tool_calls=[ToolCallItem("c1", "get_weather", "{}")]
        ),
        Message("tool", '{"temp": 21}', tool_call_id="c1"),
        Message("assistant", "21 °C and sunny.", reasoning="Answer."),
        Message("user", "And tomorrow?"),
        Message("assistant", reasoning="Again.", tool_calls=[ToolCallItem("c2", "get_weather", "{}")]),
        Message("tool", '{"temp": 18}', tool_call_id="c2"),
    ]
    tools = [FunctionTool("get_weather", "Weather.", schema), FunctionTool("get_time", "Time.", schema)]
    conv = Conversation(messages=turns, tools=tools, builtin_tools=["browser"])
    render_conversation(conv)
    start = time.perf_counter()
    for _ in range(repeats):
        render_conversation(conv)
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    token_table()  # built once per process; not part of the per-token cost
    token_ids = sample_completion(args.tokens)
    StreamDecoder()  # first one encodes the default prefill once
    start = time.perf_counter()
    for _ in range(1000):
        StreamDecoder()
    print(f"decoder construction: {(time.perf_counter() - start) * 1e3:.1f} us")
    render_ms = bench_render()
    print(f"render_conversation (8 messages, 2 function tools, browser): {render_ms:.2f} ms")
    for chunk in (1, 16):
        best = max(bench(token_ids, chunk) for _ in range(args.repeats))
        rate = f"{best:,.0f} tokens/s ({args.tokens:,} tokens)"
        print(f"streaming decoder, {chunk:>2} token(s) per feed: {rate}")


if __name__ == "__main__":
    main()
