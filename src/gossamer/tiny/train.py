"""Train gossamer-tiny from scratch on self-generated harmony conversations (CPU, deterministic).

    python -m gossamer.tiny.train --out runs/tiny            # then: python -m gossamer.tiny.export

Writes `trainer.pt` (compact-vocabulary weights, resumable) to --out every --save-every steps
and at the end, then exports the Hugging Face checkpoint to `--out/model`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from gossamer.errors import CheckpointError
from gossamer.model.config import ModelConfig
from gossamer.tiny.grow import grow_vocab
from gossamer.tiny.model import (
    TINY_CONFIG,
    TinyTrainer,
    VocabMap,
    checkpoint_config,
    is_base,
    load_base,
    trainer_checkpoint,
)
from gossamer.tiny.word_classes import classes_of

log = logging.getLogger("gossamer.tiny.train")

SPECIAL_START = 199998  # o200k_harmony special tokens start here; they are never dropped
TOKEN_DROPOUT = 0.03  # share of prompt tokens replaced by the unseen id, so its row means "unknown word"
CLASS_DROPOUT = 0.1  # share of prompt tokens fed as their word class, so its row means "this word"
# A step's opening that decision_weights weights: the channel header and the reasoning up to the
# tool's name ("The user asks for the current weather in Oslo. Checking the tools: get_weather" is 21).
DECISION_TOKENS = 24


# Command-line flags for the shape of a model trained from scratch -> ModelConfig fields.
SHAPE_FLAGS = {
    "layers": "num_layers",
    "hidden": "hidden_size",
    "intermediate": "intermediate_size",
    "heads": "num_heads",
    "kv-heads": "num_kv_heads",
    "experts": "num_experts",
}


def load_or_generate_corpus(
    path: Path, num_episodes: int, seed: int, augment: int = 0
) -> list[tuple[list[int], list[int]]]:
    """Rendered conversations, cached in `path` (rendering needs openai-harmony; training does not)."""
    if path.exists():
        cached = torch.load(path, weights_only=False)
        if (
            cached["episodes"] == num_episodes
            and cached["seed"] == seed
            and int(cached.get("augment", 0)) == augment
        ):
            ids, mask, ends = cached["ids"].tolist(), cached["mask"].tolist(), cached["ends"].tolist()
            starts = [0, *ends[:-1]]
            return [(ids[a:b], mask[a:b]) for a, b in zip(starts, ends, strict=True)]
    corpus = generate_corpus(num_episodes, seed, augment)
    flat_ids = torch.tensor([t for toks, _ in corpus for t in toks], dtype=torch.int32)
    flat_mask = torch.tensor([m for _, mask in corpus for m in mask], dtype=torch.uint8)
    ends = torch.tensor([len(toks) for toks, _ in corpus]).cumsum(0)
    torch.save(
        {
            "episodes": num_episodes,
            "seed": seed,
            "augment": augment,
            "ids": flat_ids,
            "mask": flat_mask,
            "ends": ends,
        },
        path,
    )
    return corpus


def generate_corpus(num_episodes: int, seed: int, augment: int = 0) -> list[tuple[list[int], list[int]]]:
    from gossamer.tiny.encoding import harmony_encoding
    from gossamer.tiny.served import TrainingMix

    enc = harmony_encoding()
    rng = random.Random(seed)
    mix = TrainingMix(augment)
    corpus = []
    start = time.monotonic()
    for i in range(num_episodes):
        corpus.append(mix.conversation(rng, enc))
        if (i + 1) % 5000 == 0:
            log.info("rendered %d/%d conversations (%.0f s)", i + 1, num_episodes, time.monotonic() - start)
    return corpus


def batches(corpus: list[tuple[list[int], list[int]]], batch_size: int, rng: random.Random):
    """Endless batches of similar-length conversations (less padding), in seeded order."""
    if len(corpus) < batch_size:
        raise ValueError(f"{len(corpus)} conversations cannot fill a batch of {batch_size}")
    # Sorted by length within chunks of up to 8 batches (a small corpus makes fewer, whole ones).
    chunk = min(batch_size * 8, len(corpus) - len(corpus) % batch_size)
    while True:
        order = list(range(len(corpus)))
        rng.shuffle(order)
        for c in range(0, len(order) - chunk + 1, chunk):
            group = sorted(order[c : c + chunk], key=lambda i: len(corpus[i][0]))
            groups = [group[b : b + batch_size] for b in range(0, chunk, batch_size)]
            rng.shuffle(groups)
            yield from groups


def decision_weights(loss_mask: torch.Tensor, weight: float, tokens: int = DECISION_TOKENS) -> torch.Tensor:
    """`loss_mask` with the first `tokens` targets of each run of written tokens weighted `weight`.

    A run is what one sampling step writes: its opening (`<|channel|>analysis<|message|>` and the
    reasoning's first sentence, "User wants the time in Oslo. Call get_time.") is where the turn is
    decided: a tool and which one, or none. The rest mostly copies what those tokens chose, and
    sampled at temperature 1.0 a miss there costs the whole turn (tiny.evaluate).
    """
    mask = loss_mask > 0  # [B, T]
    starts = mask & ~F.pad(mask, (1, 0))[:, :-1]  # [B, T] first token of each run
    # position within its run: t minus the run's start, found by carrying each start forward
    start_at = torch.cummax(torch.where(starts, torch.arange(mask.shape[1]), 0), 1).values  # [B, T]
    within = torch.arange(mask.shape[1]) - start_at  # [B, T]
    early = mask & (within < tokens)
    return torch.where(early, loss_mask * weight, loss_mask)


def collate(
    corpus,
    idx: list[int],
    vocab: VocabMap,
    rng: random.Random,
    protect_copies: bool = False,
    class_dropout: float = 0.0,
    decision_weight: float = 1.0,
):
    """Padded batch. `protect_copies` (fine-tuning) never drops a prompt token the assistant
    writes later in the conversation: values it must copy (cities, numbers, codes, tool results)
    stay visible, so dropout teaches ignoring unknown words, not guessing values. `class_dropout`
    feeds that share of prompt tokens through their word class's row (gossamer.tiny.word_classes).
    `decision_weight` weights each step's opening tokens in the loss (decision_weights)."""
    max_len = max(len(corpus[i][0]) for i in idx)
    ids = torch.zeros(len(idx), max_len, dtype=torch.long)  # [B, T] o200k ids
    attn = torch.zeros(len(idx), max_len, dtype=torch.long)  # [B, T]
    loss_mask = torch.zeros(len(idx), max_len)  # [B, T]
    for row, i in enumerate(idx):
        toks, mask = corpus[i]
        ids[row, : len(toks)] = torch.tensor(toks)
        attn[row, : len(toks)] = 1
        loss_mask[row, : len(toks)] = torch.tensor(mask, dtype=torch.float32)
    if decision_weight != 1.0:  # runs as the corpus marks them, before any target is left out below
        loss_mask = decision_weights(loss_mask, decision_weight)
    targets = vocab.to_compact(ids)
    # A fine-tuning corpus may hold ids the vocabulary lacks; they are never trained as targets.
    loss_mask = loss_mask * (targets != 0)
    gen = torch.Generator().manual_seed(rng.getrandbits(62))
    noise = torch.rand(ids.shape, generator=gen)  # [B, T]
    prompt = (loss_mask == 0) & (ids < SPECIAL_START)  # [B, T]
    if protect_copies:
        for row in range(len(idx)):
            written = ids[row][loss_mask[row] > 0].unique()
            prompt[row] &= ~torch.isin(ids[row], written)
    drop = prompt & (noise < TOKEN_DROPOUT)
    as_class = prompt & (noise >= 1 - class_dropout) & (targets > 0)
    inputs = torch.where(as_class, vocab.class_rows[targets], vocab.to_inputs(ids)).masked_fill(drop, 0)
    return inputs, targets, attn, loss_mask


def backward_in_parts(model: TinyTrainer, batch: list[torch.Tensor], max_tokens: int = 0) -> float:
    """Backpropagate the batch's mean loss and return it. With `max_tokens`, rows go through in
    parts of at most that many padded tokens, each weighted by its share of the batch's target
    tokens: the same gradient, with a fraction of the memory (eager attention holds a T x T map
    per head and row, and a built-in tool conversation is over a thousand tokens long)."""
    inputs, targets, attn, loss_mask = batch
    rows, width = inputs.shape
    if not max_tokens or rows * width <= max_tokens:
        loss = model.loss(inputs, targets, attn, loss_mask)
        loss.backward()
        return loss.item()
    per = max(1, max_tokens // width)
    total = loss_mask[:, 1:].sum()
    value = 0.0
    for first in range(0, rows, per):
        part = slice(first, first + per)
        length = int(attn[part].sum(1).max())  # rows are right-padded: trim to this part's longest
        sub = [t[part, :length] for t in batch]
        share = sub[3][:, 1:].sum() / total
        if share > 0:
            loss = model.loss(*sub) * share
            loss.backward()
            value += loss.item()
    return value


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class TrainSettings:
    """One training run, as the command line gives it."""

    out: Path  # run directory: corpus cache, trainer.pt, exported model
    steps: int = 6000
    batch_size: int = 32
    episodes: int = 32000  # conversations generated for training
    seed: int = 0
    lr: float = 3e-3  # peak learning rate
    qat_fraction: float = 0.25  # final share of steps through MXFP4-rounded experts
    save_every: int = 100
    threads: int | None = None
    device: str = "cpu"
    render_only: bool = False
    init: Path | None = None  # fine-tune this trainer.pt or exported checkpoint directory
    augment: int = 0
    shape: ModelConfig = TINY_CONFIG  # of a model trained from scratch; a fine-tune keeps its base's
    class_dropout: float = CLASS_DROPOUT
    max_batch_tokens: int = 0
    dropout: float = 0.0  # on each block's output, training only (TinyTrainer.set_residual_dropout)
    decision_weight: float = 1.0  # loss weight of each step's opening tokens (decision_weights)


def next_batch(settings: TrainSettings, corpus, stream, vocab: VocabMap, rng: random.Random):
    """The next padded batch of `stream` (inputs, targets, attention, loss weights), as `settings` says."""
    protect_copies = settings.augment >= 2
    return collate(
        corpus, next(stream), vocab, rng, protect_copies, settings.class_dropout, settings.decision_weight
    )


def train(settings: TrainSettings) -> Path:
    """Train, or fine-tune when `settings.init` names a trainer.pt or an exported checkpoint
    directory (which keeps the base's shape); returns the trainer.pt written."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    settings.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    corpus_path = settings.out / (f"corpus-augment{settings.augment}.pt" if settings.augment else "corpus.pt")
    corpus = load_or_generate_corpus(corpus_path, settings.episodes, settings.seed, settings.augment)
    if settings.render_only:
        return corpus_path
    base = load_base(settings.init) if settings.init else None
    # Fine-tuning grows the base's vocabulary by the corpus's new ids (tiny.grow.grow_vocab).
    old_ids, old_classes = (base.vocab.used_ids, base.vocab.classes) if base else ([], [])
    # Nonce words (tiny.nonce) stay out of the vocabulary: they read as the unknown row.
    nonce: set[int] = set()
    if settings.augment >= 6:
        from gossamer.tiny.encoding import harmony_encoding
        from gossamer.tiny.nonce import nonce_ids

        nonce = nonce_ids(harmony_encoding())
    written = {t for toks, mask in corpus for t, m in zip(toks, mask, strict=True) if m}
    if nonce & (written | set(old_ids)):
        raise ValueError(f"nonce ids {sorted(nonce & (written | set(old_ids)))} are written or known")
    used = sorted(({t for toks, _ in corpus for t in toks} - nonce) | set(old_ids))
    classes = sorted(set(classes_of(used) if settings.class_dropout > 0 else ()) | set(old_classes))
    vocab = VocabMap(used, classes)
    num_tokens = sum(len(t) for t, _ in corpus)
    log.info(
        "corpus: %d conversations, %d tokens; vocabulary %d ids, %d word classes",
        len(corpus), num_tokens, len(used), len(classes),
    )
    if base:
        model = grow_vocab(base, vocab)  # a grown base (gossamer.tiny.grow) keeps its shape
        log.info("fine-tuning from %s (%d new ids)", settings.init, len(used) - len(base.vocab.used_ids))
    else:
        model = TinyTrainer(settings.shape, vocab, seed=settings.seed)
    config = model.config
    model.set_residual_dropout(settings.dropout)
    model.to(settings.device)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, betas=(0.9, 0.95), weight_decay=0.0)
    first_step = 0
    ckpt_path = settings.out / "trainer.pt"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        same_vocab = ckpt["used_ids"] == used and ckpt.get("classes", []) == classes
        if same_vocab and checkpoint_config(ckpt) == config:
            model.load_state_dict(ckpt["model"])
            model.to(settings.device)
            opt.load_state_dict(ckpt["opt"])
            first_step = ckpt["step"]
            log.info("resumed from step %d", first_step)
    rng = random.Random(settings.seed + 1)
    stream = batches(corpus, settings.batch_size, rng)
    for _ in range(first_step):  # replay data order and dropout draws: a resumed run matches an unbroken one
        next_batch(settings, corpus, stream, vocab, rng)
    qat_start = int(settings.steps * (1 - settings.qat_fraction))
    window: list[float] = []
    for step in range(first_step, settings.steps):
        model.train()
        model.quantize_experts = step >= qat_start
        for group in opt.param_groups:
            group["lr"] = lr_at(step, settings.steps, settings.lr, warmup=min(100, settings.steps // 10))
        batch = [t.to(settings.device) for t in next_batch(settings, corpus, stream, vocab, rng)]
        if settings.dropout:  # seeded per step, so a resumed run draws the same masks
            torch.manual_seed(settings.seed * 1_000_003 + step)
        opt.zero_grad(set_to_none=True)
        loss = backward_in_parts(model, batch, settings.max_batch_tokens)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        model.apply_constraints()
        window.append(loss)
        if (step + 1) % 25 == 0:
            log.info(
                "step %d/%d loss %.4f lr %.2e qat %s (%.0f s)",
                step + 1,
                settings.steps,
                sum(window) / len(window),
                opt.param_groups[0]["lr"],
                model.quantize_experts,
                time.monotonic() - started,
            )
            window.clear()
        if (step + 1) % settings.save_every == 0 or step + 1 == settings.steps:
            tmp = ckpt_path.with_suffix(".tmp")
            state = {"opt": opt.state_dict(), "step": step + 1}
            torch.save({**trainer_checkpoint(model, settings.seed), **state}, tmp)
            tmp.replace(ckpt_path)
    log.info("trained %d steps in %.0f s", settings.steps, time.monotonic() - started)
    return ckpt_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="run directory (checkpoints, exported model)")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--episodes", type=int, default=32000, help="conversations generated for training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument(
        "--qat-fraction",
        type=float,
        default=0.25,
        help="final share of steps that train through MXFP4-rounded experts",
    )
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu", help="cpu (the reference) or cuda")
    parser.add_argument("--render-only", action="store_true", help="only render and cache the corpus")
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--init", type=Path, default=None,
                        help="fine-tune this trainer.pt or exported checkpoint directory")
    parser.add_argument("--max-batch-tokens", type=int, default=0,
                        help="backpropagate a batch in parts of at most this many padded tokens "
                        "(same gradient, less memory; 0: whole batches)")
    parser.add_argument("--class-dropout", type=float, default=CLASS_DROPOUT,
                        help="share of prompt tokens fed as their word class (0: no word classes)")
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="dropout on each attention and MoE block's output while training (0: none)")
    parser.add_argument("--decision-weight", type=float, default=1.0,
                        help="loss weight of the first tokens each sampling step writes, where the turn "
                        "chooses a tool or none (1: every written token alike)")
    parser.add_argument("--augment", type=int, default=0, choices=range(11),
                        help="training-only phrasings: 1 extra phrasings and chatty framing (first "
                        "fine-tune), 2 also terse requests, more joiners and copy-protected dropout, "
                        "3 also roughened requests (words dropped, case and punctuation lost), "
                        "4 also multi-turn conversations, dropped reasoning and out-of-scope requests, "
                        "5 also turns with the built-in browser and python tools and MCP namespaces, "
                        "6 level 4 with wider phrasings and nonce words read as unknown (not 5's tools), "
                        "7 level 6 with more nonce joiners and nonce words in out-of-scope requests, "
                        "8 level 7 with single requests from a client that drops the reasoning, "
                        "9 level 8 with more of those, filler joiners, polite follow-ups and "
                        "out-of-scope requests in frames other intents share, "
                        "10 level 9 with more single requests from a dropping client, more often two, "
                        "and polite requests to repeat")
    for flag, field in SHAPE_FLAGS.items():
        parser.add_argument(f"--{flag}", type=int, default=getattr(TINY_CONFIG, field),
                            help=f"{field} of a model trained from scratch (default %(default)s)")
    args = parser.parse_args(argv)
    shape = dataclasses.replace(
        TINY_CONFIG, layer_types=(), **{f: getattr(args, k.replace("-", "_")) for k, f in SHAPE_FLAGS.items()}
    )
    if args.episodes < args.batch_size:
        parser.error(f"--episodes ({args.episodes}) must be at least --batch-size ({args.batch_size})")
    if args.init and shape != TINY_CONFIG:
        parser.error("fine-tuning keeps the base model's shape: grow it with gossamer.tiny.grow instead")
    if args.init and not is_base(args.init):
        parser.error(f"--init {args.init}: neither a trainer.pt nor an exported checkpoint directory")
    if not 0 <= args.class_dropout < 1:
        parser.error("--class-dropout must be at least 0 and below 1")
    if not 0 <= args.dropout < 1:
        parser.error("--dropout must be at least 0 and below 1")
    if args.decision_weight <= 0:
        parser.error("--decision-weight must be above 0")
    try:
        shape.validate("model shape")
    except CheckpointError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(True, warn_only=True)
    fields = {f.name for f in dataclasses.fields(TrainSettings)} - {"shape"}
    ckpt = train(TrainSettings(shape=shape, **{k: v for k, v in vars(args).items() if k in fields}))
    if not (args.no_export or args.render_only):
        from gossamer.tiny.export import export

        export(ckpt, args.out / "model")


if __name__ == "__main__":
    main()
