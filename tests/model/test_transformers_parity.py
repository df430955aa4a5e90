"""Logits match transformers' GptOssForCausalLM (float32, eager attention) in both layouts."""

from __future__ import annotations

import pytest
import torch

from gossamer.model.attention import ContiguousKVCache, FullSequenceBackend
from gossamer.model.config import PRESETS, ModelConfig
from gossamer.model.loader import load_model
from gossamer.testing.checkpoint import write_checkpoint
from tests.model.oracle import load_reference, reference_logits

TOLERANCE = 1e-3
NUM_TOKENS = 320  # past every window below

# Two shapes, both with >= 4 layers of alternating sliding/full attention and MXFP4 experts:
# the `tiny` preset (full vocabulary, window 16, 2 of 4 experts) and a wider one with the real
# window of 128, 8 query heads over 2 KV heads and top-4 of 8 experts.
CONFIGS = {
    "tiny": PRESETS["tiny"],
    "wide": ModelConfig(
        num_layers=5, num_experts=8, experts_per_token=4, vocab_size=4096, hidden_size=128,
        intermediate_size=96, head_dim=32, num_heads=8, num_kv_heads=2, sliding_window=128,
    ),
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def case(request, tmp_path_factory, tiny_checkpoints):
    name = request.param
    if name == "tiny":
        dirs = tiny_checkpoints
    else:
        root = tmp_path_factory.mktemp(name)
        dirs = {layout: write_checkpoint(root / layout, CONFIGS[name], layout=layout, seed=7)
                for layout in ("original", "hf")}
    config = CONFIGS[name]
    ids = torch.randint(0, config.vocab_size, (NUM_TOKENS,), generator=torch.Generator().manual_seed(3))
    expected = reference_logits(load_reference(dirs["hf"]), ids)  # [N, vocab]
    return dirs, ids, expected


@pytest.mark.parametrize("layout", ["original", "hf"])
@torch.inference_mode()
def test_full_sequence_matches_transformers(case, layout):
    dirs, ids, expected = case
    model = load_model(dirs[layout], dtype=torch.float32)
    positions = torch.arange(len(ids))
    logits = model.compute_logits(model(ids, positions, FullSequenceBackend(positions)))
    assert logits.dtype == torch.float32 and logits.shape == expected.shape
    assert (logits - expected).abs().max().item() <= TOLERANCE
    assert expected.std() > 0.5  # the comparison is between real, non-degenerate logits


@torch.inference_mode()
def test_kv_cache_decode_matches_full_sequence(case):
    """Prefill a chunk, then one token at a time across the window boundary (and far past it)."""
    dirs, ids, expected = case
    model = load_model(dirs["original"], dtype=torch.float32)
    cache = ContiguousKVCache(model.config.num_layers)
    prefill = 10  # shorter than either window, so decoding crosses the boundary
    rows = [model.compute_logits(model(ids[:prefill], torch.arange(prefill), cache))]
    for i in range(prefill, len(ids)):
        rows.append(model.compute_logits(model(ids[i : i + 1], torch.tensor([i]), cache)))
    logits = torch.cat(rows)  # [N, vocab]
    assert cache.num_cached == len(ids)
    assert (logits - expected).abs().max().item() <= TOLERANCE


@torch.inference_mode()
def test_chunked_prefill_matches_full_sequence(case):
    dirs, ids, expected = case
    model = load_model(dirs["hf"], dtype=torch.float32)
    cache = ContiguousKVCache(model.config.num_layers, initial_capacity=8)
    rows = []
    for start, stop in [(0, 50), (50, 51), (51, 200), (200, len(ids))]:
        rows.append(model.compute_logits(model(ids[start:stop], torch.arange(start, stop), cache)))
    assert (torch.cat(rows) - expected).abs().max().item() <= TOLERANCE
