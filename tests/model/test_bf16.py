"""bf16 inference agrees with float32 transformers on the top-1 token.

On random weights near-ties are common (the top-2 logits of 201088 random ones sit ~0.2 std
apart, and a random router flips experts on tiny changes), so there the bar is transformers' own
bf16 path: ours must agree with float32 at least as often and err less on average. On the trained
gossamer-tiny, whose predictions are confident like a real model's, the bar is >= 99% where float32's
top two are not a near-tie, and >= 98% overall.

Both hold for the CPU kernels' two expert precisions: int8 activations (the default where the CPU
has AVX512-VNNI) and exact bf16 products.
"""

from __future__ import annotations

import pytest
import torch

from gossamer.errors import CheckpointError
from gossamer.llm import LLM
from tests.model.oracle import load_reference, reference_logits

NUM_TOKENS = 320


@pytest.fixture(params=["int8", "exact"])
def experts_precision(request):
    """Run the test under each CPU expert precision (int8 is skipped where it cannot run)."""
    from gossamer import kernels

    if not kernels.available():
        if request.param == "int8":
            pytest.skip(f"CPU kernels unavailable: {kernels.unavailable_reason()}")
        yield request.param
        return
    before = kernels.experts_precision()
    if kernels.set_experts_precision(request.param) != request.param:
        kernels.set_experts_precision(before)
        pytest.skip(f"{request.param} experts cannot run on this CPU")
    yield request.param
    kernels.set_experts_precision(before)


def top1_agreement(logits: torch.Tensor, expected: torch.Tensor) -> float:
    return (logits.argmax(-1) == expected.argmax(-1)).float().mean().item()


def test_bf16_on_random_weights_is_at_least_as_faithful_as_transformers_bf16(
    tiny_checkpoints, experts_precision
):
    # Three sequences (960 positions): one alone leaves the comparison to a handful of coin flips.
    sequences = [torch.randint(0, 201088, (NUM_TOKENS,), generator=torch.Generator().manual_seed(seed))
                 for seed in (11, 12, 13)]
    reference = load_reference(tiny_checkpoints["hf"], torch.float32)
    expected = torch.cat([reference_logits(reference, ids) for ids in sequences])
    reference = load_reference(tiny_checkpoints["hf"], torch.bfloat16)
    theirs = torch.cat([reference_logits(reference, ids) for ids in sequences])
    llm = LLM(tiny_checkpoints["original"], dtype="bfloat16")
    ours = torch.cat([llm.logits(ids) for ids in sequences])
    assert top1_agreement(ours, expected) >= top1_agreement(theirs, expected) - 1 / len(expected)
    assert top1_agreement(ours, expected) >= 0.9
    assert (ours - expected).abs().mean() <= (theirs - expected).abs().mean()


def test_bf16_top1_on_the_trained_tiny_model(tmp_path, experts_precision):
    tiny = pytest.importorskip("gossamer.tiny")
    try:
        path = tiny.model_path(cache_dir=tmp_path)
    except CheckpointError as exc:
        pytest.skip(f"gossamer-tiny is not bundled yet: {exc}")
    from gossamer.harmony.tokenizer import load_harmony_encoding

    encoding = load_harmony_encoding(path)
    # Harmony-formatted turns, the kind of text the model was trained on.
    turn = (
        "<|start|>user<|message|>What is the capital of France? Please answer briefly.<|end|>"
        "<|start|>assistant<|channel|>analysis<|message|>The user asks for the capital of France. "
        "It is Paris.<|end|><|start|>assistant<|channel|>final<|message|>The capital of France is "
        "Paris.<|return|>"
    )
    ids = torch.tensor(encoding.encode(turn * 8, allowed_special="all")[:NUM_TOKENS])
    assert len(ids) == NUM_TOKENS
    expected = reference_logits(load_reference(path, torch.float32), ids)
    ours = LLM(path, dtype="bfloat16").logits(ids)
    # Where float32's top two are within 0.1 of each other, bf16 rounding decides (logits near 10
    # are resolved to ~0.04): the AVX512-BF16 and AMX kernels flipped different ones of those, at
    # margins 0.007-0.05. Everywhere else the bar is 99%.
    top2 = expected.topk(2, dim=-1).values  # [N, 2]
    clear = top2[:, 0] - top2[:, 1] >= 0.1  # [N]
    assert clear.float().mean() >= 0.95  # the premise: a confident model
    assert top1_agreement(ours[clear], expected[clear]) >= 0.99
    assert top1_agreement(ours, expected) >= 0.98
