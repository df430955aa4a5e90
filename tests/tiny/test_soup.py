"""Averaging fine-tunes of one gossamer-tiny (gossamer.tiny.soup): the average of a model with
itself is that model, weights combine linearly over the union of the vocabularies, and the command
line refuses what it cannot average."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gossamer.tiny.model import TINY_CONFIG, TinyTrainer, VocabMap, from_checkpoint, trainer_checkpoint
from gossamer.tiny.soup import main, soup
from tests.tiny.trainers import perturbed_trainer

IDS = list(range(1000, 1100))


def _log_probs(model: TinyTrainer, tokens: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        mask = torch.ones_like(tokens)
        return model.logits(model.hidden(model.vocab.to_inputs(tokens), mask)).log_softmax(-1)  # [B, T, V]


def _tokens() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.tensor(IDS)[torch.randint(0, len(IDS), (2, 30), generator=gen)]  # [B, T] o200k ids


def test_a_model_averaged_with_itself_is_that_model() -> None:
    model = perturbed_trainer(VocabMap(IDS))
    averaged = soup([model, model], [0.5, 0.5])
    torch.testing.assert_close(
        _log_probs(averaged, _tokens()), _log_probs(model, _tokens()), atol=1e-5, rtol=0
    )


def test_weights_combine_linearly_over_the_union_of_the_vocabularies() -> None:
    a = perturbed_trainer(VocabMap(IDS), seed=3)
    b = perturbed_trainer(VocabMap([*IDS, 1100, 1101]), seed=4)  # b's corpus held two more ids
    averaged = soup([a, b], [0.25, 0.75])
    assert averaged.vocab.used_ids == [*IDS, 1100, 1101]
    sa, sb, out = a.state_dict(), b.state_dict(), averaged.state_dict()
    for name in ("model.layers.1.self_attn.q_proj.weight", "model.layers.2.mlp.experts.gate_up_proj"):
        torch.testing.assert_close(out[name], 0.25 * sa[name] + 0.75 * sb[name])
    # An id only b has was written by a as an unseen id: its row is a's unseen row there.
    row = len(IDS)  # unembed row of compact id len(IDS) + 1, o200k id 1100
    torch.testing.assert_close(out["unembed"][row], 0.25 * a.unseen_row() + 0.75 * sb["unembed"][row])
    torch.testing.assert_close(
        out["unembed"][: len(IDS)], 0.25 * sa["unembed"] + 0.75 * sb["unembed"][: len(IDS)]
    )
    assert (out["model.embed_tokens.weight"][:, 0] == sa["model.embed_tokens.weight"][0, 0]).all()  # pinned


def test_refusals() -> None:
    model = perturbed_trainer(VocabMap(IDS))
    with pytest.raises(ValueError, match="sum to 1"):
        soup([model, model], [0.5, 0.6])
    with pytest.raises(ValueError, match="one weight per model"):
        soup([model, model], [1.0])
    other = TinyTrainer(dataclasses.replace(TINY_CONFIG, num_layers=2, layer_types=()), VocabMap(IDS), seed=0)
    with pytest.raises(ValueError, match="one shape"):
        soup([model, other], [0.5, 0.5])


def test_the_command_writes_a_trainer_checkpoint(tmp_path, capsys) -> None:
    paths = []
    for seed in (3, 4):
        paths.append(tmp_path / f"{seed}.pt")
        torch.save(trainer_checkpoint(perturbed_trainer(VocabMap(IDS), seed=seed), seed), paths[-1])
    out = tmp_path / "soup" / "trainer.pt"
    main([*map(str, paths), "--out", str(out)])
    averaged = from_checkpoint(torch.load(out, weights_only=False))
    expected = soup([from_checkpoint(torch.load(p, weights_only=False)) for p in paths], [0.5, 0.5])
    torch.testing.assert_close(_log_probs(averaged, _tokens()), _log_probs(expected, _tokens()))
    for bad, message in (("0.5,x", "numbers separated by commas"), ("0.9,0.9", "sum to 1")):
        with pytest.raises(SystemExit) as exit_info:
            main([*map(str, paths), "--out", str(out), "--weights", bad])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.pt"), "--out", str(out)])
    assert "not a file" in capsys.readouterr().err
