"""Write a trained gossamer-tiny as a Hugging Face gpt-oss checkpoint, and pack it for the wheel.

    python -m gossamer.tiny.export runs/tiny/trainer.pt --out runs/tiny/model --pack runs/tiny/model.tar.xz
    python -m gossamer.tiny.export runs/tiny/trainer.pt --out runs/tiny/model --pack   # the shipped model

The compact vocabulary tables grow to the full 201088 rows: unseen ids share one unembedding row
(`-unseen_scale * e0`) and, in the embedding, their word class's row or else the one "unknown
word" row, so the two big tables compress to little more than their few thousand trained rows.
Experts are stored as MXFP4 `*_blocks` / `*_scales`, the rest in bfloat16, exactly as the
published gpt-oss checkpoints.

The shared unseen row is scaled by `UNSEEN_BOOST` on export. Its logit is `-scale * y0` and the
final-norm coordinate y0 is positive for every input (see gossamer.tiny.model), so the boost only
pushes never-seen ids further down; the ranking and relative odds of the seen ids do not change.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import lzma
import tarfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from gossamer.model.config import load_config
from gossamer.model.mxfp4 import dequantize, quantize
from gossamer.tiny.model import FULL_VOCAB, TinyTrainer, VocabMap, from_checkpoint
from gossamer.tiny.word_classes import token_classes

log = logging.getLogger("gossamer.tiny.export")

ARCHIVE_PATH = Path(__file__).resolve().parent.parent / "data" / "gossamer-tiny.tar.xz"
UNSEEN_BOOST = 4.0
CHECKPOINT_FILES = ("config.json", "generation_config.json", "model.safetensors")


def load_trainer(trainer_ckpt: Path) -> TinyTrainer:
    return from_checkpoint(torch.load(trainer_ckpt, weights_only=False, map_location="cpu"))


@torch.no_grad()
def hf_state_dict(trainer: TinyTrainer) -> dict[str, torch.Tensor]:
    """The trainer's weights under transformers' GptOssForCausalLM names, full vocabulary, MXFP4 experts."""
    used = torch.tensor(trainer.vocab.used_ids)
    d = trainer.config.hidden_size
    src = trainer.model.state_dict()
    out: dict[str, torch.Tensor] = {}

    embed = src["embed_tokens.weight"]  # [input rows, d]: 0 unknown, seen ids, word classes
    out["model.embed_tokens.weight"] = embed[trainer.vocab.input_lut]  # [FULL_VOCAB, d]

    lm_head = (trainer.unseen_row() * UNSEEN_BOOST).expand(FULL_VOCAB, d).clone()  # [FULL_VOCAB, d]
    lm_head[used] = trainer.unembed
    out["lm_head.weight"] = lm_head

    for name, tensor in src.items():
        if name == "embed_tokens.weight":
            continue
        if name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
            # HF keeps [E, in, out] in memory; the checkpoint stores [E, out, in/32, 16] blocks.
            blocks, scales = quantize(tensor.transpose(1, 2))
            out[f"model.{name}_blocks"], out[f"model.{name}_scales"] = blocks, scales
            continue
        out[f"model.{name}"] = tensor
    return {k: (v.to(torch.bfloat16) if v.is_floating_point() else v).contiguous() for k, v in out.items()}


@torch.no_grad()
def load_exported(model_dir: Path) -> TinyTrainer:
    """The trainer back from an exported checkpoint (the inverse of hf_state_dict), so a shipped
    model can be fine-tuned without the trainer.pt it came from.

    The weights are the exported ones (bf16 values, experts as their MXFP4 values, which the
    expert quantization of fine-tuning keeps as they are); the optimizer's state is not in a
    checkpoint. Seen ids are those with their own unembedding row; word classes are those that
    some unseen id reads through its own (non-"unknown") embedding row.
    """
    from safetensors.torch import load_file

    config = load_config(model_dir)
    tensors = load_file(model_dir / "model.safetensors")
    src = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    lm_head, embed = src.pop("lm_head.weight"), src.pop("model.embed_tokens.weight")  # [FULL_VOCAB, d] each
    unseen_row, unknown_row = lm_head[FULL_VOCAB - 1], embed[FULL_VOCAB - 1]  # a reserved id: never seen
    seen = (lm_head != unseen_row).any(-1)  # [FULL_VOCAB]
    names = token_classes()
    class_ids = ((embed != unknown_row).any(-1) & ~seen).nonzero().flatten().tolist()
    first_of = {}
    for i in class_ids:
        first_of.setdefault(names[i], i)
    vocab = VocabMap(seen.nonzero().flatten().tolist(), sorted(first_of))
    trainer = TinyTrainer(config, vocab)
    used = torch.tensor(vocab.used_ids)
    rows = torch.cat([unknown_row[None], embed[used], embed[[first_of[c] for c in vocab.classes]]])
    state = {"model.embed_tokens.weight": rows, "unembed": lm_head[used]}
    state["unseen_scale"] = -unseen_row[0] / UNSEEN_BOOST
    for name in trainer.model.state_dict():
        if name.endswith(("experts.gate_up_proj", "experts.down_proj")):
            blocks, scales = src[f"model.{name}_blocks"], src[f"model.{name}_scales"]
            state[f"model.{name}"] = dequantize(blocks, scales, torch.float32).transpose(1, 2)
        elif name != "embed_tokens.weight":
            state[f"model.{name}"] = src[f"model.{name}"]
    trainer.load_state_dict(state)
    return trainer.eval()


def export(trainer_ckpt: Path, out_dir: Path) -> Path:
    trainer = load_trainer(trainer_ckpt)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(hf_state_dict(trainer), out_dir / "model.safetensors", metadata={"format": "pt"})
    config = trainer.config.to_hf_json(quantized=True)
    config["_name_or_path"] = "gossamer-tiny"
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    # Sampling stops on <|return|>, <|endoftext|> and <|call|>, as in the gpt-oss repos.
    generation = {"eos_token_id": [200002, 199999, 200012], "pad_token_id": 199999, "do_sample": True}
    (out_dir / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    log.info("exported %s", out_dir)
    return out_dir


def pack(model_dir: Path, archive: Path = ARCHIVE_PATH) -> Path:
    """tar.xz the checkpoint deterministically (fixed mtimes and owners, sorted members)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in CHECKPOINT_FILES:
            data = (model_dir / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    log.info("packed %s: %.2f MB", archive, archive.stat().st_size / 1e6)
    return archive


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trainer_ckpt", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--pack",
        nargs="?",
        type=Path,
        const=ARCHIVE_PATH,
        default=None,
        metavar="ARCHIVE",
        help=f"also pack the checkpoint as a tar.xz: at ARCHIVE, or with no value into gossamer/data as "
        f"{ARCHIVE_PATH.name}, replacing the model the package ships",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    export(args.trainer_ckpt, args.out)
    if args.pack is not None:
        pack(args.out, args.pack)
        if args.pack.resolve() == ARCHIVE_PATH:
            log.warning("replaced the shipped gossamer-tiny in %s (git checkout restores it)", ARCHIVE_PATH)


if __name__ == "__main__":
    main()
