"""What grammar-constrained decoding costs: per-token overhead in the engine, and compile times.

    python benchmarks/constraint_overhead.py                      # the embedded model
    python benchmarks/constraint_overhead.py --model /tmp/gb/20b  # a 20b-shaped checkpoint

Per-token overhead: the same batch of B sequences decodes T tokens at temperature 1.0, once
unconstrained and once held to a JSON Schema that cannot end within T tokens (an array of at
least 1000 objects), in alternating rounds; the figure is the median decode step (prefill steps
excluded), and the mask computation itself is timed inside the engine's mask thread. Both runs go
through the same sampling path (temperature 1.0, no speculation), so the difference is the masks,
the bitmask applied to the logits, and advancing each grammar by its token.

Compile times: llguidance's tokenizer (once per process), then a typical and a large schema as a
raw grammar and as a whole harmony turn (answer format and tools), without the cache (a fresh
cache each time) and with it (the same request again).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gossamer.engine.config import EngineConfig
from gossamer.engine.engine import EngineCore
from gossamer.engine.masks import MaskFiller
from gossamer.engine.protocol import SamplingParams, StructuredOutputs
from gossamer.grammar import compile as grammar_compile
from gossamer.grammar.plan import constrain_completion, turn_constraint
from gossamer.grammar.tokenizer import ll_tokenizer
from gossamer.harmony.conversation import Conversation, FunctionTool, Message
from gossamer.harmony.render import render_conversation
from gossamer.model.loader import load_model

ITEM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "qty": {"type": "integer", "minimum": 0, "maximum": 999},
        "tags": {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "maxItems": 3},
    },
    "required": ["name", "qty", "tags"],
    "additionalProperties": False,
}
ENDLESS = {"type": "array", "items": ITEM, "minItems": 1000}  # no EOS within the measured tokens
TYPICAL = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 40},
        "temperature": {"type": "integer", "minimum": -60, "maximum": 60},
        "condition": {"enum": ["sunny", "cloudy", "rain", "snow"]},
        "hourly": {"type": "array", "items": {"type": "number"}, "maxItems": 24},
        "alerts": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}}]},
    },
    "required": ["city", "temperature", "condition", "hourly", "alerts"],
    "additionalProperties": False,
}
LARGE = {  # 120 fields, unions, nested objects, patterns: a big agent's tool or output schema
    "type": "object",
    "properties": {
        f"field_{i}": (
            {"anyOf": [{"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4}$"}, {"type": "integer"},
                       {"type": "null"}]}
            if i % 3 == 0 else
            {"type": "object", "properties": {"x": {"type": "number"}, "y": {"enum": ["a", "b", "c"]}},
             "required": ["x", "y"], "additionalProperties": False}
            if i % 3 == 1 else {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 8}
        )
        for i in range(120)
    },
    "required": [f"field_{i}" for i in range(120)],
    "additionalProperties": False,
}


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def decode_steps(core: EngineCore, batch: int, params: SamplingParams, seed: int) -> list[float]:
    """Run `batch` sequences for num_tokens; return the wall time of each step where all of them decode."""
    for i in range(batch):
        prompt = [200006, 1428, 200008] + [(seed * 7919 + i * 131 + j * 17) % 190000 for j in range(16)]
        core.add_request(f"r{seed}-{i}", prompt, params)
    times = []
    while core.has_unfinished():
        decoding = all(s.num_computed_tokens == s.num_tokens - 1 for s in core.scheduler.running)
        start = time.perf_counter()
        core.step()
        if decoding and len(core.scheduler.running) == batch:
            times.append(time.perf_counter() - start)
    return times


def per_token(args: argparse.Namespace, model: torch.nn.Module) -> None:
    config = EngineConfig(kv_cache_memory_bytes="256MiB", speculative=False, max_num_seqs=max(args.batches))
    core = EngineCore(model, config)
    mask_s: list[float] = []
    fill = MaskFiller._fill

    def timed_fill(self, items):
        start = time.perf_counter()
        out = fill(self, items)
        mask_s.append((time.perf_counter() - start) / len(items))
        return out

    MaskFiller._fill = timed_fill  # type: ignore[method-assign]
    free = SamplingParams(temperature=1.0, max_tokens=args.tokens, ignore_eos=True)
    held = constrain_completion(SamplingParams(temperature=1.0, max_tokens=args.tokens,
                                               structured_outputs=StructuredOutputs(json=ENDLESS)))
    for batch in args.batches:
        results: dict[str, list[float]] = {"free": [], "held": []}
        mask_s.clear()
        decode_steps(core, batch, free, seed=0)  # warm-up
        for r in range(args.rounds):
            for name, params in (("free", free), ("held", held)):
                seed = 1 + 2 * r + (name == "held")
                results[name] += decode_steps(core, batch, params, seed)
        free_ms, held_ms = median_ms(results["free"]), median_ms(results["held"])
        print(f"batch {batch:2d}: decode step {free_ms:7.2f} ms unconstrained, {held_ms:7.2f} ms constrained "
              f"({100 * (held_ms - free_ms) / free_ms:+.1f}%); masks {median_ms(mask_s) * 1e3:.0f} us per "
              f"sequence per token on the mask thread ({len(results['held'])} constrained steps)")
    MaskFiller._fill = fill  # type: ignore[method-assign]


def sampler_cost(batches: list[int], vocab: int, reps: int = 40) -> None:
    """The mask's cost inside the sampler alone, interleaved with the same rows unmasked: on a
    shared host whose speed drifts by a third, this isolates what the engine-level medians blur."""
    from gossamer.engine.sampler import SamplingRow, sample

    words = (vocab + 31) // 32
    for batch in batches:
        logits = torch.randn(batch, vocab)
        bitmask = torch.randint(-(2**31), 2**31 - 1, (batch, words), dtype=torch.int32)
        params = SamplingParams(temperature=1.0)
        free = [SamplingRow(params, seed=i, position=0) for i in range(batch)]
        held = [SamplingRow(params, seed=i, position=0, allowed_bitmask=bitmask[i]) for i in range(batch)]
        times: dict[str, list[float]] = {"free": [], "held": []}
        for _ in range(reps):
            for name, rows in (("free", free), ("held", held)):
                start = time.perf_counter()
                sample(logits, rows)
                times[name].append(time.perf_counter() - start)
        free_ms, held_ms = median_ms(times["free"]), median_ms(times["held"])
        print(f"sampler, batch {batch:2d}: {free_ms:6.2f} ms unmasked, {held_ms:6.2f} ms masked "
              f"(+{held_ms - free_ms:.2f} ms per step, median of {reps} interleaved)")


def compile_times() -> None:
    start = time.perf_counter()
    ll_tokenizer()
    elapsed_ms = 1e3 * (time.perf_counter() - start)
    print(f"llguidance tokenizer (o200k_harmony, once per process): {elapsed_ms:.0f} ms")
    tools = [FunctionTool(f"tool_{i}", "", TYPICAL) for i in range(3)]
    for name, schema in (("typical", TYPICAL), ("large", LARGE)):
        raw = SamplingParams(structured_outputs=StructuredOutputs(json=schema))
        fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}
        conv = Conversation(messages=[Message("user", "hi")], tools=tools, response_format=fmt)
        rendered = render_conversation(conv)
        for what, build in (
            ("raw grammar", lambda raw=raw: constrain_completion(raw).constraint.new()),
            ("harmony turn + 3 tools",
             lambda c=conv, r=rendered: turn_constraint(c, r, SamplingParams()).new()),  # type: ignore[union-attr]
        ):
            cold, warm = [], []
            for _ in range(5):
                grammar_compile._shared = grammar_compile.GrammarCache()  # nothing cached
                start = time.perf_counter()
                build()
                cold.append(time.perf_counter() - start)
                start = time.perf_counter()
                build()  # the same request again: every grammar is in the cache
                warm.append(time.perf_counter() - start)
            print(f"{name:8s} {what:24s} compile {median_ms(cold):7.2f} ms without the cache, "
                  f"{median_ms(warm):6.2f} ms with it (median of 5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: the embedded gossamer-tiny)")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-decode", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(torch.get_num_threads())
    compile_times()
    if args.skip_decode:
        return
    if args.model is None:
        from gossamer.tiny import model_path

        args.model = model_path()
    model = load_model(Path(args.model), dtype=getattr(torch, args.dtype), device=torch.device("cpu"))
    print(f"model {args.model}, {args.dtype}, {args.tokens} tokens per round, {args.rounds} rounds")
    sampler_cost(args.batches, model.config.vocab_size)
    per_token(args, model)


if __name__ == "__main__":
    main()
