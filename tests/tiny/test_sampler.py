"""The evaluation's batched sampler: left-padded prompts sampled together give what each prompt
gives alone (greedy), from the full vocabulary's distribution."""

from __future__ import annotations

import random

import torch

from gossamer.tiny.data import render_training, sample_episode
from gossamer.tiny.evaluate import Sampler


def test_a_batch_of_prompts_of_different_lengths_decodes_as_each_alone(hf_model, encoding) -> None:
    sampler = Sampler(hf_model)
    rng = random.Random(3)
    prompts = []
    for _ in range(3):
        ids, mask = render_training(sample_episode(rng, held_out=True), encoding, rng)
        prompts.append(ids[: mask.index(1)])
    assert len({len(p) for p in prompts}) > 1
    alone = [sampler.sample(p, 0.0, torch.Generator(), max_tokens=40) for p in prompts]
    assert sampler.sample_batch(prompts, 0.0, max_tokens=40) == alone
