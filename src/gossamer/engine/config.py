"""The engine's settings: one object, built once (from the server's settings or by hand) and passed whole."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    dtype: str = "bfloat16"  # bfloat16, float32 or float16
    device: str = "cpu"
    kv_cache_memory_bytes: int | str | None = None  # None: $GOSSAMER_KV_CACHE_MEMORY, else 1 GiB
    block_size: int = 16
    max_num_seqs: int = 16  # sequences run at once
    max_num_batched_tokens: int = 512  # the step's token budget: bounds a prefill chunk
    # Prompt tokens per step while other sequences decode (scheduler.py): bounds the pause a new
    # prompt adds to every running stream (128 tokens: ~2-4 s of a 20b prefill on 2 cores).
    max_prefill_tokens_while_decoding: int = 128
    max_context_length: int | None = None  # None: the model's
    enable_prefix_caching: bool = True
    max_queue: int = 256  # requests allowed to wait beyond max_num_seqs before QueueFull
    # Speculative decoding by prompt lookup (engine/prompt_lookup.py); a request may override it.
    speculative: bool = True
    num_speculative_tokens: int = 4  # draft tokens verified per sequence and step, at most
    prompt_lookup_min: int = 2  # shortest suffix n-gram looked up
    prompt_lookup_max: int = 4  # longest (tried first)
    # Drafts only while at most this many sequences decode: a big batch already reads each weight
    # once for many tokens, and more rows would only add compute.
    speculative_max_seqs: int = 4
    # What one more row adds to a single-stream step, as a fraction of the step: it sets how long
    # a draft pays for a given acceptance rate (prompt_lookup.py). On the 20b shape a row's own 4
    # experts are 1.27 of the 3.7 GB a token reads.
    speculative_row_cost: float = 0.3
