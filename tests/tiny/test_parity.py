"""transformers' GptOssForCausalLM and gossamer's own model agree on gossamer-tiny's logits."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from gossamer.tiny.data import render_training, sample_episode

# The checkpoint is bf16 (experts MXFP4); both sides compute in float32 from the same values.
ATOL = 2e-3


@pytest.fixture(scope="module")
def token_ids(encoding) -> list[int]:
    rng = random.Random(7)
    ids, _ = render_training(sample_episode(rng, held_out=True), encoding, rng)
    return ids[:300]


def test_gossamer_model_matches_transformers(tiny_dir: Path, hf_model, token_ids: list[int]) -> None:
    from gossamer.model.attention import FullSequenceBackend
    from gossamer.model.loader import load_model

    ids = torch.tensor(token_ids)  # [N]
    positions = torch.arange(len(token_ids))  # [N]
    model = load_model(tiny_dir, dtype=torch.float32)
    with torch.no_grad():
        ours = model.compute_logits(model(ids, positions, FullSequenceBackend(positions)))  # [N, V]
        theirs = hf_model(ids[None]).logits[0]  # [N, V]
    assert ours.shape == theirs.shape == (len(token_ids), 201088)
    torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)
    # More than noise: the two agree on the argmax everywhere.
    assert torch.equal(ours.argmax(-1), theirs.argmax(-1))


def test_llm_logits_match_transformers(tiny_dir: Path, hf_model, token_ids: list[int]) -> None:
    llm_module = pytest.importorskip("gossamer.llm")
    llm = llm_module.LLM(tiny_dir, dtype=torch.float32)
    ours = llm.logits(token_ids)  # [N, V]
    with torch.no_grad():
        theirs = hf_model(torch.tensor([token_ids])).logits[0]  # [N, V]
    torch.testing.assert_close(ours.float(), theirs, atol=ATOL, rtol=0)


def test_unseen_ids_are_far_below(hf_model, token_ids: list[int]) -> None:
    """Ids the model never saw share one row whose logit sits far under the best one everywhere,
    so sampling at temperature 1.0 practically never draws them."""
    with torch.no_grad():
        logits = hf_model(torch.tensor([token_ids])).logits[0]  # [N, V]
    unseen_id = 200100  # a reserved special token: never in any conversation
    gap = logits.max(-1).values - logits[:, unseen_id]  # [N]
    assert gap.min() > 25.0, gap.min()
    # Total probability of everything at or below the unseen level: under 1e-6 per token keeps an
    # evaluation of 200 conversations (~20k sampled tokens) clear of unseen ids with odds > 98%.
    probs = torch.softmax(logits, -1)
    mass = (probs * (logits <= logits[:, unseen_id : unseen_id + 1])).sum(-1)  # [N]
    assert mass.max() < 1e-6
