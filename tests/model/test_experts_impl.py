"""The MoE seam: another expert implementation can replace the torch reference per model."""

from __future__ import annotations

import pytest
import torch

from gossamer.model.attention import FullSequenceBackend
from gossamer.model.loader import load_model
from tests.model.oracle import load_reference, reference_logits


@torch.inference_mode()
def logits_of(model, ids):
    positions = torch.arange(len(ids))
    return model.compute_logits(model(ids, positions, FullSequenceBackend(positions)))


def test_the_impl_is_called_and_can_be_removed(tiny_checkpoint):
    model = load_model(tiny_checkpoint, dtype=torch.float32)
    model.set_experts_impl(None)  # the loader picks the CPU kernels where they can run
    ids = torch.randint(0, 201088, (40,), generator=torch.Generator().manual_seed(8))
    reference = logits_of(model, ids)
    calls = []

    def traced(block, t, expert_ids, expert_weights):
        calls.append(t.shape[0])
        return block.experts(t, expert_ids, expert_weights)

    model.set_experts_impl(traced)
    assert torch.equal(logits_of(model, ids), reference)
    assert calls == [40] * model.config.num_layers
    model.set_experts_impl(None)
    assert torch.equal(logits_of(model, ids), reference) and len(calls) == model.config.num_layers


def test_cpu_kernels_keep_parity_with_transformers(tiny_checkpoints):
    kernels = pytest.importorskip("gossamer.kernels")
    if not kernels.available():
        pytest.skip(f"CPU kernels unavailable: {kernels.unavailable_reason()}")
    from gossamer.kernels.moe import experts_forward

    model = load_model(tiny_checkpoints["original"], dtype=torch.float32)
    model.set_experts_impl(experts_forward)
    ids = torch.randint(0, 201088, (300,), generator=torch.Generator().manual_seed(9))
    expected = reference_logits(load_reference(tiny_checkpoints["hf"]), ids)
    assert (logits_of(model, ids) - expected).abs().max().item() <= 1e-3


def test_linear_impl_is_used_for_projections_routers_and_logits(tiny_checkpoint):
    model = load_model(tiny_checkpoint, dtype=torch.bfloat16)
    model.set_linear_impl(None)  # the loader picks the CPU kernels where they can run
    ids = torch.randint(0, 201088, (12,), generator=torch.Generator().manual_seed(10))
    reference = logits_of(model, ids)
    shapes = []

    def float32_linear(x, weight, bias):
        shapes.append(tuple(weight.shape))
        return torch.nn.functional.linear(x.float(), weight.float(), None if bias is None else bias.float())

    model.set_linear_impl(float32_linear)
    logits = logits_of(model, ids)
    assert len(shapes) == 3 * model.config.num_layers + 1 and shapes[-1] == (201088, 64)
    assert (model.config.num_experts, 64) in shapes  # the routers
    assert (logits - reference).abs().max() < 0.1  # float32 products: close to the bf16 ones
    model.set_linear_impl(None)
    assert torch.equal(logits_of(model, ids), reference)


def test_cpu_linear_kernel_keeps_parity_with_transformers(tiny_checkpoints):
    kernels = pytest.importorskip("gossamer.kernels")
    if not kernels.available():
        pytest.skip(f"CPU kernels unavailable: {kernels.unavailable_reason()}")
    model = load_model(tiny_checkpoints["original"], dtype=torch.float32)
    model.set_linear_impl(kernels.linear)
    ids = torch.randint(0, 201088, (64,), generator=torch.Generator().manual_seed(12))
    expected = reference_logits(load_reference(tiny_checkpoints["hf"]), ids)
    assert (logits_of(model, ids) - expected).abs().max().item() <= 1e-3
