"""The training script end to end at a toy size: shape flags, checkpoints that carry the shape,
resuming, and the guard against reshaping a fine-tune."""

from __future__ import annotations

import itertools

import pytest
import torch

from gossamer.tiny import train as train_module
from gossamer.tiny.model import VocabMap, checkpoint_config
from gossamer.tiny.train import main
from tests.tiny.trainers import perturbed_trainer

TOY = ["--episodes", "24", "--batch-size", "4", "--threads", "1", "--no-export", "--save-every", "2"]
SHAPE = ["--layers", "2", "--hidden", "64", "--intermediate", "64", "--heads", "2", "--kv-heads", "1"]


def test_trains_a_chosen_shape_and_resumes(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    main(["--out", str(out), "--steps", "2", *TOY, *SHAPE])
    first = torch.load(out / "trainer.pt", weights_only=False)
    config = checkpoint_config(first)
    assert (config.num_layers, config.hidden_size, config.num_heads, config.num_kv_heads) == (2, 64, 2, 1)
    assert first["step"] == 2 and first["model"]["unembed"].shape[1] == 64
    # A longer run in the same directory picks up from step 2 instead of starting over.
    main(["--out", str(out), "--steps", "3", *TOY, *SHAPE])
    second = torch.load(out / "trainer.pt", weights_only=False)
    assert second["step"] == 3
    assert not torch.equal(second["model"]["unembed"], first["model"]["unembed"])
    # Fine-tuning keeps the base's shape; asking for another one is a usage error.
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "ft"), "--init", str(out / "trainer.pt"), "--hidden", "96", *TOY])
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--hidden", "100", *TOY])
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), *TOY, "--batch-size", "32"])
    missing, not_a_model = str(tmp_path / "missing.pt"), str(tmp_path)
    for bad in (["--init", missing], ["--init", not_a_model], ["--class-dropout", "1"]):
        with pytest.raises(SystemExit):
            main(["--out", str(tmp_path / "bad"), *TOY, *bad])
    assert "neither a trainer.pt nor an exported checkpoint" in capsys.readouterr().err


def test_fine_tunes_an_exported_model_and_grows_its_vocabulary(tmp_path) -> None:
    from gossamer.tiny.export import export

    base = tmp_path / "base"
    main(["--out", str(base), "--steps", "1", *TOY, *SHAPE, "--class-dropout", "0"])
    export(base / "trainer.pt", tmp_path / "model")
    ft = tmp_path / "ft"
    # Other phrasings (augment 3) hold ids the base never saw: they get rows instead of "unknown".
    main(["--out", str(ft), "--init", str(tmp_path / "model"), "--steps", "1", "--augment", "3", *TOY])
    before = torch.load(base / "trainer.pt", weights_only=False)
    after = torch.load(ft / "trainer.pt", weights_only=False)
    assert not before["classes"] and after["classes"]
    assert set(before["used_ids"]) < set(after["used_ids"])
    assert checkpoint_config(after) == checkpoint_config(before)


def test_residual_dropout_trains_only_and_resumes_to_the_same_weights(tmp_path, capsys, monkeypatch) -> None:
    model = perturbed_trainer(VocabMap(list(range(100, 160))))
    rows, mask = torch.randint(1, 60, (2, 12)), torch.ones(2, 12, dtype=torch.long)
    plain = model.hidden(rows, mask)
    model.set_residual_dropout(0.5)
    assert torch.equal(model.hidden(rows, mask), plain)  # eval mode: no dropout
    dropped = model.train().hidden(rows, mask)
    assert not torch.allclose(dropped, plain)
    assert (dropped[..., 0] > 0).all()  # the pinned coordinate still reaches the final norm intact
    model.set_residual_dropout(0.0)
    assert torch.equal(model.hidden(rows, mask), plain)  # the hooks are gone

    # The masks are drawn per step from the seed: stopping and resuming changes nothing.
    flags = [*TOY, *SHAPE, "--dropout", "0.2"]
    main(["--out", str(tmp_path / "whole"), "--steps", "3", *flags])
    calls, backward = itertools.count(), train_module.backward_in_parts

    def stopped_at_step_3(*args, **kwargs):
        if next(calls) == 2:
            raise KeyboardInterrupt  # as if the run were stopped after its step-2 checkpoint
        return backward(*args, **kwargs)

    monkeypatch.setattr(train_module, "backward_in_parts", stopped_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        main(["--out", str(tmp_path / "resumed"), "--steps", "3", *flags])
    monkeypatch.setattr(train_module, "backward_in_parts", backward)
    main(["--out", str(tmp_path / "resumed"), "--steps", "3", *flags])
    whole = torch.load(tmp_path / "whole" / "trainer.pt", weights_only=False)["model"]
    resumed = torch.load(tmp_path / "resumed" / "trainer.pt", weights_only=False)["model"]
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)
    main(["--out", str(tmp_path / "none"), "--steps", "3", *TOY, *SHAPE])
    undropped = torch.load(tmp_path / "none" / "trainer.pt", weights_only=False)["model"]
    assert not torch.equal(whole["unembed"], undropped["unembed"])
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), *TOY, "--dropout", "1"])
    assert "--dropout must be at least 0 and below 1" in capsys.readouterr().err


def test_decision_weight_raises_each_steps_opening_and_keeps_the_plain_mean_at_1(tmp_path, capsys) -> None:
    from gossamer.tiny.train import decision_weights

    # Two rows: prompt, a written run of 5, prompt (a tool result), a run of 3; and one long run.
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]])
    weighted = decision_weights(mask.float(), 4.0, tokens=2)
    assert weighted.tolist() == [
        [0, 0, 4, 4, 1, 1, 1, 0, 0, 4, 4, 1],
        [4, 4, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
    ]
    assert torch.equal(decision_weights(mask.float(), 1.0, tokens=2), mask.float())

    # The loss is the weighted mean of per-token cross-entropy: all ones give the plain mean.
    model = perturbed_trainer(VocabMap(list(range(100, 160))))
    rows, attn = torch.randint(1, 60, (2, 12)), torch.ones(2, 12, dtype=torch.long)
    hidden = model.hidden(rows, attn)[:, :-1]
    per_token = torch.nn.functional.cross_entropy(
        model.logits(hidden).flatten(0, 1), rows[:, 1:].flatten(), reduction="none"
    ).view(2, 11)
    sel = mask[:, 1:].bool()
    assert torch.allclose(model.loss(rows, rows, attn, mask.float()), per_token[sel].mean())
    w = weighted[:, 1:]
    assert torch.allclose(model.loss(rows, rows, attn, weighted), (per_token * w).sum() / w.sum())

    main(["--out", str(tmp_path / "run"), "--steps", "1", *TOY, *SHAPE, "--decision-weight", "3"])
    assert torch.load(tmp_path / "run" / "trainer.pt", weights_only=False)["step"] == 1
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), *TOY, "--decision-weight", "0"])
    assert "--decision-weight must be above 0" in capsys.readouterr().err
