"""Grow a trained gossamer-tiny without changing what it computes, as a start for fine-tuning.

    python -m gossamer.tiny.grow runs/ft/trainer.pt --out runs/deep/init.pt --add 2 [--at 2]
    python -m gossamer.tiny.grow runs/ft/trainer.pt --out runs/wide/init.pt --hidden 192 --intermediate 256

Deeper: new layers come in (sliding, full) pairs so that the alternation of the published models
holds. Each new layer starts as the identity on the residual stream: its attention output
projection and its experts' down projections (weights and biases) are zero, so it adds nothing
until training moves them.

Wider: the residual stream, the attention heads (query and KV heads in the same ratio, so each old
query head keeps its KV head) and the experts' width grow. New residual coordinates start at zero
(the embedding and every projection that writes the stream get zero there), new heads and new
expert neurons write nothing (zero output columns and rows), and the RMSNorm weights shrink by
sqrt(old / new) because the same vector now averages over more coordinates (exact up to RMSNorm's
epsilon, which now sits beside a smaller mean square: logits move by ~1e-4).

Everything that only reads the new parts is freshly initialised, which gives the gradients
something to work with once the zero projections move.

A larger vocabulary (`grow_vocab`, used by gossamer.tiny.train when a fine-tuning corpus holds ids
the base never saw): new ids and word classes get rows without changing what the model writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import torch

from gossamer.tiny.model import TinyTrainer, VocabMap, is_base, load_base, trainer_checkpoint
from gossamer.tiny.word_classes import token_classes

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


# Tensors that write the residual stream, a head's output or an expert neuron's output: their new
# entries start at zero, so the grown model computes what the old one did.
_WRITERS = ("embed_tokens.weight", "o_proj.weight", "o_proj.bias", "down_proj", "down_proj_bias")


@torch.no_grad()
def widen(
    trainer: TinyTrainer,
    hidden: int | None = None,
    intermediate: int | None = None,
    heads: int | None = None,
    kv_heads: int | None = None,
    seed: int = 0,
) -> TinyTrainer:
    """A copy of `trainer` with a wider residual stream, more attention heads or wider experts."""
    old = trainer.config
    config = dataclasses.replace(
        old,
        hidden_size=hidden or old.hidden_size,
        intermediate_size=intermediate or old.intermediate_size,
        num_heads=heads or old.num_heads,
        num_kv_heads=kv_heads or old.num_kv_heads,
    )
    sizes = ("hidden_size", "intermediate_size", "num_heads", "num_kv_heads")
    if any(getattr(config, f) < getattr(old, f) for f in sizes):
        raise ValueError("widening cannot shrink the model")
    if config.hidden_size % 32 or config.intermediate_size % 32:
        raise ValueError("hidden and intermediate sizes must be multiples of 32 (MXFP4 blocks)")
    if config.num_heads * old.num_kv_heads != old.num_heads * config.num_kv_heads:
        raise ValueError("query and KV heads must grow in the same ratio (each query head keeps its KV head)")
    grown = TinyTrainer(config, trainer.vocab, seed=seed)
    src = trainer.state_dict()
    state = {}
    for name, fresh in grown.state_dict().items():
        old_t = src[name]
        t = torch.zeros_like(fresh) if name.endswith(_WRITERS) else fresh.clone()
        t[tuple(slice(0, n) for n in old_t.shape)] = old_t
        state[name] = t
    # [x, 0] has a mean square smaller by old/new than x: the norms' weights make up for it.
    shrink = (old.hidden_size / config.hidden_size) ** 0.5
    for name, t in state.items():
        if name.endswith("norm.weight"):
            t[: old.hidden_size] *= shrink
            t[old.hidden_size :] = t[: old.hidden_size].mean()
    # The final norm's coordinate 0 is pinned at weight 1 (TinyTrainer.apply_constraints), so it comes
    # out larger by 1 / shrink: the unembedding's coordinate 0 and the unseen row take that back.
    state["model.norm.weight"][0] = 1.0
    state["unembed"][:, 0] *= shrink
    state["unseen_scale"] = src["unseen_scale"] * shrink
    grown.load_state_dict(state)
    grown.apply_constraints()
    return grown


@torch.no_grad()
def grow_vocab(trainer: TinyTrainer, vocab: VocabMap) -> TinyTrainer:
    """A copy of `trainer` over `vocab`, a larger vocabulary (more seen ids, more word classes).

    What the model writes does not change: a new seen id's unembedding row is the shared unseen
    row, so it keeps exactly the probability it had as one of the unseen ids. What it reads
    changes only where it was blind: a new seen id that the old model read as the unknown word
    starts from its word class's row, and a new class row starts as the mean of the rows of the
    class's ids the old model saw (else as the unknown word).
    """
    old = trainer.vocab
    if not set(old.used_ids) <= set(vocab.used_ids) or not set(old.classes) <= set(vocab.classes):
        raise ValueError("a grown vocabulary keeps every seen id and word class of the old one")
    grown = TinyTrainer(trainer.config, vocab, seed=0)
    state = {k: v.clone() for k, v in trainer.state_dict().items()}
    old_embed = state["model.embed_tokens.weight"]  # [old input rows, d]
    used = torch.tensor(vocab.used_ids)  # [N]
    embed = old_embed[old.to_inputs(used)]  # [N, d] each seen id as the old model read it
    members: dict[str, list[int]] = {}  # class -> the old model's rows of its seen ids
    if vocab.classes:
        names = token_classes()
        for i in old.used_ids:
            members.setdefault(names[i], []).append(int(old.lut[i]))
    class_rows = []
    for c in vocab.classes:
        if c in old.classes:
            class_rows.append(old_embed[old.size + old.classes.index(c)])
        else:
            class_rows.append(old_embed[members[c]].mean(0) if c in members else old_embed[0])
    classes = torch.stack(class_rows) if class_rows else old_embed[:0]  # [C, d]
    # Ids the old model read as the unknown word start from their class instead.
    blind = (old.to_inputs(used) == 0) & (vocab.class_rows[1:] >= vocab.size)  # [N]
    embed[blind] = classes[vocab.class_rows[1:][blind] - vocab.size]
    state["model.embed_tokens.weight"] = torch.cat([old_embed[:1], embed, classes])
    unembed = trainer.unseen_row().expand(len(vocab.used_ids), -1).clone()  # [N, d]
    was_seen = old.lut[used] > 0  # [N]
    unembed[was_seen] = state["unembed"][old.lut[used][was_seen] - 1]
    state["unembed"] = unembed
    grown.load_state_dict(state)
    grown.apply_constraints()
    return grown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "trainer", type=Path, help="a trainer.pt from gossamer.tiny.train, or an exported checkpoint"
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the grown trainer checkpoint")
    parser.add_argument("--add", type=int, default=0, help="layers to add (an even number)")
    parser.add_argument("--at", type=int, default=2, help="insert before this layer (an even index)")
    parser.add_argument("--hidden", type=int, default=None, help="new residual width")
    parser.add_argument("--intermediate", type=int, default=None, help="new expert width")
    parser.add_argument("--heads", type=int, default=None, help="new number of query heads")
    parser.add_argument("--kv-heads", type=int, default=None, help="new number of KV heads")
    args = parser.parse_args(argv)
    widths = {"hidden": args.hidden, "intermediate": args.intermediate, "heads": args.heads,
              "kv_heads": args.kv_heads}
    if not args.add and not any(widths.values()):
        parser.error("nothing to grow: give --add or a width (--hidden, --intermediate, --heads, --kv-heads)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not is_base(args.trainer):
        raise SystemExit(f"error: {args.trainer}: neither a trainer.pt nor an exported checkpoint")
    trainer = load_base(args.trainer)
    seed = trainer.seed
    try:
        grown = widen(trainer, **widths, seed=seed) if any(widths.values()) else trainer
        if args.add:
            grown = deepen(grown, args.add, args.at, seed=seed)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(trainer_checkpoint(grown, seed), args.out)
    old, new = trainer.config, grown.config
    log.info(
        "layers %d -> %d, hidden %d -> %d, experts' width %d -> %d, heads %d/%d -> %d/%d: %s",
        old.num_layers, new.num_layers, old.hidden_size, new.hidden_size, old.intermediate_size,
        new.intermediate_size, old.num_heads, old.num_kv_heads, new.num_heads, new.num_kv_heads, args.out,
    )


if __name__ == "__main__":
    main()
