"""The same model on CUDA (when a GPU is present): float32 matches the CPU, bf16 agrees on top-1."""

from __future__ import annotations

import pytest
import torch

from gossamer.llm import LLM
from gossamer.model.attention import ContiguousKVCache

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_float32_on_cuda_matches_cpu(tiny_checkpoint):
    ids = torch.randint(0, 201088, (300,), generator=torch.Generator().manual_seed(4))
    cpu = LLM(tiny_checkpoint, dtype="float32").logits(ids)
    gpu = LLM(tiny_checkpoint, dtype="float32", device="cuda")
    assert gpu.model.blocks[0].mlp.mlp1_blocks.device.type == "cuda"
    assert gpu.model.blocks[0].mlp.mlp1_blocks.dtype == torch.uint8  # experts stay packed on the GPU
    # TF32 would loosen matmuls; the default (highest precision) keeps the 1e-3 bound.
    assert (gpu.logits(ids) - cpu).abs().max().item() <= 1e-3


@torch.inference_mode()
def test_decode_on_cuda_matches_full_sequence(tiny_checkpoint):
    llm = LLM(tiny_checkpoint, dtype="float32", device="cuda")
    ids = torch.randint(0, 201088, (60,), generator=torch.Generator().manual_seed(5)).cuda()
    expected = llm.logits(ids)
    model, cache = llm.model, ContiguousKVCache(llm.config.num_layers)
    rows = [model.compute_logits(model(ids[:5], torch.arange(5, device="cuda"), cache))]
    for i in range(5, 60):
        rows.append(model.compute_logits(model(ids[i : i + 1], torch.tensor([i], device="cuda"), cache)))
    assert (torch.cat(rows).cpu() - expected).abs().max().item() <= 1e-3


def test_bf16_on_cuda_tracks_float32(tiny_checkpoint):
    ids = torch.randint(0, 201088, (300,), generator=torch.Generator().manual_seed(6))
    expected = LLM(tiny_checkpoint, dtype="float32").logits(ids)
    got = LLM(tiny_checkpoint, dtype="bfloat16", device="cuda").logits(ids)
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() >= 0.9
    assert (got - expected).abs().mean() <= 0.02
