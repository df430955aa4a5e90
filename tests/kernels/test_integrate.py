"""use_cpu_kernels on a real (tiny, random) checkpoint: same logits as the torch path."""

from __future__ import annotations

import torch

from gossamer.kernels.integrate import use_cpu_kernels
from gossamer.model.attention import FullSequenceBackend
from gossamer.model.config import ModelConfig
from gossamer.model.loader import load_model
from gossamer.testing.checkpoint import write_checkpoint

CONFIG = ModelConfig(num_layers=2, num_experts=4, experts_per_token=2, vocab_size=512, hidden_size=64,
                     intermediate_size=96, head_dim=16, num_heads=4, num_kv_heads=2, sliding_window=8)


@torch.inference_mode()
def _logits(model, ids):
    positions = torch.arange(len(ids))
    return model.compute_logits(model(ids, positions, FullSequenceBackend(positions)))


def test_kernels_replace_the_torch_experts_with_the_same_logits(isas, tmp_path):
    path = write_checkpoint(tmp_path / "ckpt", CONFIG, layout="original", seed=4)
    model = load_model(path, dtype=torch.float32)
    model.set_experts_impl(None)  # the torch reference, whatever the loader chose
    model.set_linear_impl(None)
    ids = torch.randint(0, CONFIG.vocab_size, (21,), generator=torch.Generator().manual_seed(2))
    reference = _logits(model, ids)
    assert use_cpu_kernels(model)
    assert all(block.mlp.experts_impl is not None for block in model.blocks)
    assert model.linear_impl is not None
    assert (_logits(model, ids) - reference).abs().max().item() <= 1e-3


def test_dense_experts_keep_torch(isas, tmp_path):
    path = write_checkpoint(tmp_path / "dense", CONFIG, layout="original", seed=4, experts="bf16")
    model = load_model(path, dtype=torch.float32)
    model.set_experts_impl(None)
    assert use_cpu_kernels(model)
    assert model.blocks[0].mlp.experts_impl is None and model.linear_impl is not None
