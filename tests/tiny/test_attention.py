"""Training's fused attention with sinks computes transformers' eager gpt-oss attention: the same
loss and gradients on padded rows that reach past the sliding window."""

from __future__ import annotations

import torch

from gossamer.tiny.model import VocabMap
from tests.tiny.trainers import perturbed_trainer


def test_loss_and_gradients_match_eager_attention() -> None:
    vocab = VocabMap(list(range(10, 60)), [])
    model = perturbed_trainer(vocab)
    model.model.config.sliding_window = 8  # the sliding layers' masks then cut rows of 24 tokens
    for layer in model.model.layers:
        layer.self_attn.sliding_window = 8 if layer.self_attn.sliding_window else None
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 60, (3, 24), generator=gen)  # [B, T]
    attn = torch.ones_like(ids)
    attn[1, 15:] = 0  # a right-padded row
    targets = vocab.to_compact(ids)
    loss_mask = attn.float()
    inputs = vocab.to_inputs(ids)
    results = []
    for impl in ("eager", model.model.config._attn_implementation):
        model.model.config._attn_implementation = impl
        model.zero_grad()
        loss = model.loss(inputs, targets, attn, loss_mask)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (eager_loss, eager_grads), (fused_loss, fused_grads) = results
    assert torch.allclose(eager_loss, fused_loss, atol=1e-6)
    for a, b in zip(eager_grads, fused_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
