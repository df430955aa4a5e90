"""Deepen a trained gossamer-tiny without changing what it computes, as a start for fine-tuning.

    python -m gossamer.tiny.grow runs/ft/trainer.pt --out runs/deep/init.pt [--add 2] [--at 2]

New layers come in (sliding, full) pairs so that the alternation of the published models holds.
Each new layer starts as the identity on the residual stream: its attention output projection and
its experts' down projections (weights and biases) are zero, so it adds nothing until training
moves them. The rest of its weights are freshly initialised, which gives the gradients something
to work with once those projections leave zero.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import torch

from gossamer.tiny.export import load_trainer
from gossamer.tiny.model import TinyTrainer

log = logging.getLogger("gossamer.tiny.grow")


@torch.no_grad()
def deepen(trainer: TinyTrainer, add: int, at: int, seed: int = 0) -> TinyTrainer:
    """A copy of `trainer` with `add` identity layers inserted before layer `at`."""
    old = trainer.config
    if add <= 0 or add % 2 or not 0 <= at <= old.num_layers or at % 2:
        raise ValueError("add a positive even number of layers at an even position (sliding, full pairs)")
    config = dataclasses.replace(old, num_layers=old.num_layers + add, layer_types=())
    grown = TinyTrainer(config, trainer.vocab, seed=seed)
    src = trainer.state_dict()
    # New layer j holds old layer j before the insertion point and old layer j - add past it.
    source = {(i if i < at else i + add): i for i in range(old.num_layers)}
    state = {}
    for name, tensor in grown.state_dict().items():
        parts = name.split(".")
        if parts[:2] == ["model", "layers"]:
            layer = int(parts[2])
            if layer in source:
                state[name] = src[".".join([*parts[:2], str(source[layer]), *parts[3:]])]
            elif name.endswith(("o_proj.weight", "o_proj.bias", "down_proj", "down_proj_bias")):
                state[name] = torch.zeros_like(tensor)
            else:
                state[name] = tensor
        else:
            state[name] = src[name]
    grown.load_state_dict(state)
    grown.apply_constraints()
    return grown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trainer", type=Path, help="a trainer.pt from gossamer.tiny.train")
    parser.add_argument("--out", type=Path, required=True, help="where to write the grown trainer checkpoint")
    parser.add_argument("--add", type=int, default=2, help="layers to add (an even number)")
    parser.add_argument("--at", type=int, default=2, help="insert before this layer (an even index)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.trainer.is_file():
        raise SystemExit(f"error: {args.trainer} is not a file")
    trainer = load_trainer(args.trainer)
    seed = torch.load(args.trainer, weights_only=False, map_location="cpu").get("seed", 0)
    try:
        grown = deepen(trainer, args.add, args.at, seed=seed)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": grown.state_dict(), "used_ids": grown.vocab.used_ids, "seed": seed,
                "config": dataclasses.asdict(grown.config)}, args.out)
    log.info("%d -> %d layers: %s", trainer.config.num_layers, grown.config.num_layers, args.out)


if __name__ == "__main__":
    main()
