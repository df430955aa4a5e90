"""A small trained-looking TinyTrainer for the tests that grow, export and reload one."""

from __future__ import annotations

import torch

from gossamer.tiny.model import TINY_CONFIG, TinyTrainer, VocabMap


def perturbed_trainer(vocab: VocabMap, seed: int = 3) -> TinyTrainer:
    """A TinyTrainer over `vocab` with every weight moved off its initialisation, as training
    would leave it."""
    model = TinyTrainer(TINY_CONFIG, vocab, seed=seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.apply_constraints()
    return model.eval()
