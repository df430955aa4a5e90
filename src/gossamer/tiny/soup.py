"""Average fine-tunes of one gossamer-tiny into one model (a "model soup").

    python -m gossamer.tiny.soup runs/a/trainer.pt runs/b/trainer.pt --out runs/soup/trainer.pt
    python -m gossamer.tiny.soup runs/parent/trainer.pt runs/ft/trainer.pt --weights 0.3,0.7 --out ...

Fine-tunes that start from the same parent stay in one basin of the loss, so the average of their
weights is a model too, and usually one that generalises better than each of them: each fine-tune's
seed and data pull it some way off in a direction of its own, and the average keeps what they agree
on. Averaging a fine-tune with its parent (weights other than equal) trades what the fine-tune
learned against what it may have forgotten.

Each fine-tune may have grown the vocabulary by ids of its own corpus; every model is first grown
to the union of the vocabularies (`grow_vocab`: a new id reads as its word class or the unknown
word and is written exactly as an unseen id was), then the weights are averaged. Only checkpoints
of one shape can be averaged.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from gossamer.tiny.grow import grow_vocab
from gossamer.tiny.model import TinyTrainer, VocabMap, from_checkpoint, trainer_checkpoint

log = logging.getLogger("gossamer.tiny.soup")


@torch.no_grad()
def soup(models: list[TinyTrainer], weights: list[float]) -> TinyTrainer:
    """The weighted average of `models` (weights sum to 1) over the union of their vocabularies."""
    if len(models) != len(weights) or not models:
        raise ValueError("give one weight per model")
    if abs(sum(weights) - 1.0) > 1e-6 or min(weights) < 0:
        raise ValueError(f"weights must be non-negative and sum to 1, not {weights}")
    if any(m.config != models[0].config for m in models):
        raise ValueError("only models of one shape can be averaged")
    vocab = VocabMap(
        sorted(set().union(*(m.vocab.used_ids for m in models))),
        sorted(set().union(*(m.vocab.classes for m in models))),
    )
    grown = [grow_vocab(m, vocab) for m in models]
    states = [g.state_dict() for g in grown]
    averaged = {k: sum(w * s[k].float() for w, s in zip(weights, states, strict=True)) for k in states[0]}
    out = grown[0]
    out.load_state_dict({k: v.to(states[0][k].dtype) for k, v in averaged.items()})
    out.apply_constraints()
    return out.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trainers", type=Path, nargs="+", help="trainer.pt files of one shape")
    parser.add_argument("--out", type=Path, required=True, help="where to write the averaged trainer.pt")
    parser.add_argument("--weights", default=None, help="comma-separated, summing to 1 (default: equal)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    n = len(args.trainers)
    try:
        weights = [float(w) for w in args.weights.split(",")] if args.weights else [1.0 / n] * n
    except ValueError:
        parser.error(f"--weights {args.weights}: give numbers separated by commas")
    missing = [str(p) for p in args.trainers if not p.is_file()]
    if missing:
        parser.error(f"not a file: {', '.join(missing)}")
    ckpts = [torch.load(p, weights_only=False, map_location="cpu") for p in args.trainers]
    try:
        averaged = soup([from_checkpoint(c) for c in ckpts], weights)
    except ValueError as exc:
        parser.error(str(exc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(trainer_checkpoint(averaged, ckpts[0].get("seed", 0)), args.out)
    log.info(
        "averaged %d models (weights %s) over %d ids and %d word classes: %s",
        n,
        ",".join(f"{w:g}" for w in weights),
        len(averaged.vocab.used_ids),
        len(averaged.vocab.classes),
        args.out,
    )


if __name__ == "__main__":
    main()
