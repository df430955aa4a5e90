"""Sizing the KV cache from a memory budget (argument or environment)."""

from __future__ import annotations

import pytest
import torch

from gossamer.engine.kv_cache import (
    DEFAULT_KV_CACHE_MEMORY_BYTES,
    parse_memory_size,
    plan_cache,
    resolve_kv_cache_memory,
)
from gossamer.model.config import PRESETS


def test_parse_memory_size():
    assert parse_memory_size("2GiB") == 2 << 30
    assert parse_memory_size("512 MiB") == 512 << 20
    assert parse_memory_size("1.5GB") == 1_500_000_000
    assert parse_memory_size("4096") == 4096
    with pytest.raises(ValueError, match="2GiB"):
        parse_memory_size("lots")


def test_budget_from_argument_then_environment(monkeypatch):
    monkeypatch.delenv("GOSSAMER_KV_CACHE_MEMORY", raising=False)
    assert resolve_kv_cache_memory(None) == DEFAULT_KV_CACHE_MEMORY_BYTES
    monkeypatch.setenv("GOSSAMER_KV_CACHE_MEMORY", "3GiB")
    assert resolve_kv_cache_memory(None) == 3 << 30
    assert resolve_kv_cache_memory("1GiB") == 1 << 30
    monkeypatch.setenv("GOSSAMER_KV_CACHE_MEMORY", "many")
    with pytest.raises(ValueError, match="GOSSAMER_KV_CACHE_MEMORY"):
        resolve_kv_cache_memory(None)


def test_20b_plan_spends_the_budget_on_full_attention_context():
    layout = plan_cache(PRESETS["20b"], memory_bytes=4 << 30, dtype=torch.bfloat16, block_size=16,
                        max_num_seqs=16, max_num_batched_tokens=512, max_context_length=131072)
    assert layout.num_bytes <= 4 << 30
    # 12 full layers x K and V x 8 heads x 64 dims x 2 bytes = 24 KiB per token
    assert layout.bytes_per_full_block == 16 * 24 * 1024
    full_tokens = layout.num_full_blocks * 16
    # Sliding layers hold a constant per sequence, so most of the budget becomes context:
    # storing every layer for every token would fit only half as many.
    assert full_tokens > 0.8 * (4 << 30) / (24 * 1024)
    assert layout.num_sliding_blocks >= 16 * (128 // 16 + 2)


def test_too_small_a_budget_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        plan_cache(PRESETS["20b"], memory_bytes=1 << 20, dtype=torch.bfloat16, block_size=16,
                   max_num_seqs=16, max_num_batched_tokens=512, max_context_length=131072)
