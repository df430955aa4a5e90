"""Growing a trained gossamer-tiny (gossamer.tiny.grow), deeper or wider, keeps what it computes, and
its shape travels with the trainer checkpoint into fine-tuning and export."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from gossamer.tiny.export import export
from gossamer.tiny.grow import deepen, main, widen
from gossamer.tiny.model import TINY_CONFIG, TinyTrainer, VocabMap, checkpoint_config
from tests.tiny.trainers import perturbed_trainer


@pytest.fixture(scope="module")
def trainer() -> TinyTrainer:
    return perturbed_trainer(VocabMap(list(range(1000, 1200))))


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 201, (2, 40), generator=gen)  # [B, T] compact ids
    return ids, torch.ones_like(ids)


@pytest.mark.parametrize("quantized", [False, True])
def test_new_layers_start_as_the_identity(trainer: TinyTrainer, quantized: bool) -> None:
    grown = deepen(trainer, add=2, at=2).eval()
    assert grown.config.num_layers == 6
    assert grown.config.layer_types == ("sliding_attention", "full_attention") * 3
    trainer.quantize_experts = grown.quantize_experts = quantized
    ids, mask = _batch()
    with torch.no_grad():
        before = trainer.logits(trainer.hidden(ids, mask))  # [B, T, V]
        after = grown.logits(grown.hidden(ids, mask))
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    # The old layers moved past the insertion point; the new ones are not copies of them.
    old, new = trainer.model.layers, grown.model.layers
    assert torch.equal(new[4].self_attn.q_proj.weight, old[2].self_attn.q_proj.weight)
    assert not torch.equal(new[2].self_attn.q_proj.weight, old[2].self_attn.q_proj.weight)
    assert not new[2].self_attn.o_proj.weight.any() and not new[3].mlp.experts.down_proj.any()


@pytest.mark.parametrize("quantized", [False, True])
def test_a_wider_model_computes_the_same(trainer: TinyTrainer, quantized: bool) -> None:
    grown = widen(trainer, hidden=192, intermediate=192, heads=6, kv_heads=3).eval()
    c = grown.config
    assert (c.hidden_size, c.intermediate_size, c.num_heads, c.num_kv_heads) == (192, 192, 6, 3)
    trainer.quantize_experts = grown.quantize_experts = quantized
    ids, mask = _batch()
    with torch.no_grad():
        before = trainer.logits(trainer.hidden(ids, mask))  # [B, T, V]
        hidden = grown.hidden(ids, mask)  # [B, T, 192]
        after = grown.logits(hidden)
    # Only RMSNorm's epsilon sees the longer vector; the logits are ~unit scale here.
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)
    assert not hidden[..., 128:].any()  # the new coordinates start empty...
    grad_owner = grown.model.layers[0].self_attn.o_proj.weight
    grown.train()
    grown.logits(grown.hidden(ids, mask)).logsumexp(-1).mean().backward()
    assert grad_owner.grad[128:].abs().sum() > 0  # ...and training can write them


def test_widening_keeps_heads_paired_and_blocks_whole(trainer: TinyTrainer) -> None:
    for kwargs, match in (
        ({"hidden": 96}, "shrink"),
        ({"hidden": 144}, "multiples of 32"),
        ({"heads": 6}, "same ratio"),
    ):
        with pytest.raises(ValueError, match=match):
            widen(trainer, **kwargs)


def test_pairs_only(trainer: TinyTrainer) -> None:
    for add, at in ((1, 2), (2, 1), (2, 6), (0, 0)):
        with pytest.raises(ValueError, match="pairs"):
            deepen(trainer, add=add, at=at)


def test_the_grown_shape_reaches_the_exported_checkpoint(trainer: TinyTrainer, tmp_path, capsys) -> None:
    base = tmp_path / "base.pt"
    torch.save({"model": trainer.state_dict(), "used_ids": trainer.vocab.used_ids, "seed": 3}, base)
    assert checkpoint_config(torch.load(base, weights_only=False)) == TINY_CONFIG  # no config: the default
    main([str(base), "--out", str(tmp_path / "grown.pt"), "--add", "2", "--at", "4"])
    ckpt = torch.load(tmp_path / "grown.pt", weights_only=False)
    assert checkpoint_config(ckpt) == dataclasses.replace(TINY_CONFIG, num_layers=6, layer_types=())
    export(tmp_path / "grown.pt", tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["num_hidden_layers"] == 6 and len(config["layer_types"]) == 6
    with pytest.raises(SystemExit, match="pairs"):
        main([str(base), "--out", str(tmp_path / "bad.pt"), "--add", "3"])
    main([str(base), "--out", str(tmp_path / "wide.pt"), "--hidden", "160"])
    wide = torch.load(tmp_path / "wide.pt", weights_only=False)
    assert checkpoint_config(wide).hidden_size == 160 and checkpoint_config(wide).num_layers == 4
    with pytest.raises(SystemExit):  # nothing to grow: argparse's usage error
        main([str(base), "--out", str(tmp_path / "bad.pt")])
    with pytest.raises(SystemExit, match=r"neither a trainer\.pt nor an exported checkpoint"):
        main([str(tmp_path / "missing.pt"), "--out", str(tmp_path / "bad.pt"), "--add", "2"])
    # An exported checkpoint (the shipped model's form) grows as well: 6 layers become 8.
    main([str(tmp_path / "model"), "--out", str(tmp_path / "deeper.pt"), "--add", "2", "--at", "2"])
    assert checkpoint_config(torch.load(tmp_path / "deeper.pt", weights_only=False)).num_layers == 8
