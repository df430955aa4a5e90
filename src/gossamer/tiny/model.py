"""gossamer-tiny during training: transformers' gpt-oss on a compact vocabulary.

Only a couple of thousand token ids ever occur in the generated conversations, so training embeds
and scores only those (the "used vocabulary"); export writes the full 201088-row tables. The
embedding also holds one row per word class (gossamer.tiny.word_classes), the row that an id
the model never saw gets when it is another form of a word the model knows.

Every id that never occurs shares one embedding row (compact id 0, also used for token dropout so
that row means "some word I don't know") and one unembedding row, `-unseen_scale * e0`. Residual
coordinate 0 is pinned to the constant `PINNED_VALUE`: the embedding writes it and no layer
writes to it (zero rows in `o_proj` and in the experts' down projections), so after the final
RMSNorm it is always positive and every unseen id's logit is negative and far below the seen ones.
The loss counts the unseen ids as one extra class with multiplicity `num_unseen`, which is exactly
the full-vocabulary softmax, so training itself pushes their probability mass towards zero.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import nn
from transformers import GptOssConfig, GptOssModel

from gossamer.model.config import ModelConfig
from gossamer.model.mxfp4 import dequantize, quantize
from gossamer.tiny.attention import register as register_sdpa_sinks
from gossamer.tiny.word_classes import token_classes

PINNED_VALUE = 2.0
FULL_VOCAB = 201088

TINY_CONFIG = ModelConfig(
    num_layers=4,
    num_experts=4,
    experts_per_token=2,
    vocab_size=FULL_VOCAB,
    hidden_size=128,
    intermediate_size=128,
    head_dim=32,
    num_heads=4,
    num_kv_heads=2,
    sliding_window=128,
)


def checkpoint_config(ckpt: dict) -> ModelConfig:
    """The shape a trainer checkpoint was saved with (the first ones hold none: TINY_CONFIG)."""
    raw = ckpt.get("config")
    if raw is None:
        return TINY_CONFIG
    return ModelConfig(**{**raw, "layer_types": tuple(raw["layer_types"])})


def trainer_checkpoint(trainer: TinyTrainer, seed: int) -> dict:
    """What a trainer.pt holds besides the optimizer's state: the weights, the compact vocabulary,
    the seed and the shape (read back by checkpoint_config and from_checkpoint)."""
    return {
        "model": {k: v.cpu() for k, v in trainer.state_dict().items()},
        "used_ids": trainer.vocab.used_ids,
        "classes": trainer.vocab.classes,
        "seed": seed,
        "config": dataclasses.asdict(trainer.config),
    }


def from_checkpoint(ckpt: dict) -> TinyTrainer:
    """The model a loaded trainer.pt holds, in eval mode."""
    vocab = VocabMap(ckpt["used_ids"], ckpt.get("classes", []))
    model = TinyTrainer(checkpoint_config(ckpt), vocab, seed=ckpt.get("seed", 0))
    model.load_state_dict(ckpt["model"])
    return model.eval()


def is_base(path: Path) -> bool:
    """Whether `path` is something load_base reads: a trainer.pt or an exported checkpoint."""
    return path.is_file() or (path / "model.safetensors").is_file()


def load_base(init: Path) -> TinyTrainer:
    """The model to fine-tune: a trainer.pt, or an exported checkpoint directory (the shipped one
    included: `python -c "from gossamer.tiny import model_path; print(model_path())"`)."""
    if init.is_dir():
        from gossamer.tiny.export import load_exported

        return load_exported(init)
    return from_checkpoint(torch.load(init, weights_only=False, map_location="cpu"))


def hf_config(config: ModelConfig, vocab_size: int | None = None) -> GptOssConfig:
    raw = config.to_hf_json(quantized=False)
    raw.pop("architectures"), raw.pop("model_type"), raw.pop("torch_dtype")
    rope = raw.pop("rope_scaling")
    raw["rope_parameters"] = {**rope, "rope_theta": raw.pop("rope_theta")}
    raw["vocab_size"] = vocab_size or config.vocab_size
    raw["pad_token_id"] = None
    if vocab_size is not None:  # compact training vocabulary: o200k's special ids do not exist there
        raw["eos_token_id"] = None
    hf = GptOssConfig(**raw)
    hf._attn_implementation = "eager"
    return hf


def fake_quantize(w: torch.Tensor) -> torch.Tensor:
    """MXFP4 round trip along the last axis with a straight-through gradient."""
    q = dequantize(*quantize(w), dtype=w.dtype)
    return w + (q - w).detach()


@dataclass
class VocabMap:
    """Compact id <-> o200k id. Compact 0 is every unseen id.

    Output (unembedding) rows are the compact ids 0..size-1. Input (embedding) rows are those, then
    one row per word class: an unseen id whose class is known reads its class row, not row 0.
    """

    used_ids: list[int]  # sorted o200k ids; compact id = 1 + index
    classes: list[str] = field(default_factory=list)  # sorted word classes; input row = size + index

    def __post_init__(self) -> None:
        lut = torch.zeros(FULL_VOCAB, dtype=torch.long)
        lut[torch.tensor(self.used_ids, dtype=torch.long)] = torch.arange(1, len(self.used_ids) + 1)
        self.lut = lut  # [FULL_VOCAB] o200k id -> compact id
        self.input_lut = lut.clone()  # [FULL_VOCAB] o200k id -> input row
        self.class_rows = torch.arange(self.size)  # [size] compact id -> its word class's input row
        if self.classes:
            names = token_classes()
            row_of = {c: self.size + k for k, c in enumerate(self.classes)}
            class_row = torch.tensor([row_of.get(names[i], 0) for i in range(FULL_VOCAB)])  # [FULL_VOCAB]
            self.input_lut = torch.where(lut > 0, lut, class_row)
            compact, rows = lut[lut > 0], class_row[lut > 0]  # [N] each, for the seen ids
            self.class_rows[compact[rows > 0]] = rows[rows > 0]

    @property
    def size(self) -> int:
        return len(self.used_ids) + 1

    @property
    def input_size(self) -> int:
        return self.size + len(self.classes)

    @property
    def num_unseen(self) -> int:
        return FULL_VOCAB - len(self.used_ids)

    def to_compact(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lut[ids]

    def to_inputs(self, ids: torch.Tensor) -> torch.Tensor:
        return self.input_lut[ids]


def _drop_block_output(
    p: float, module: nn.Module, args: tuple, output: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """Forward hook: gpt-oss blocks return (hidden [B, T, d], attention weights or router scores)."""
    return (nn.functional.dropout(output[0], p, module.training), *output[1:])


class TinyTrainer(nn.Module):
    def __init__(self, config: ModelConfig, vocab: VocabMap, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.config, self.vocab, self.seed = config, vocab, seed  # the seed: grow passes it on
        self.model = GptOssModel(hf_config(config, vocab.input_size))
        # The same softmax as transformers' eager attention, without its [B, H, T, T] maps.
        self.model.config._attn_implementation = register_sdpa_sinks()
        d = config.hidden_size
        self.unembed = nn.Parameter(torch.randn(vocab.size - 1, d) * 0.02)  # seen rows
        self.unseen_scale = nn.Parameter(torch.tensor(10.0))
        self.quantize_experts = False
        self._dropout_hooks: list[torch.utils.hooks.RemovableHandle] = []
        with torch.no_grad():
            self.model.embed_tokens.weight.normal_(0.0, 1.0)
        self.apply_constraints()

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Pin residual coordinate 0 (see module docstring); called after every optimizer step."""
        self.model.embed_tokens.weight[:, 0] = PINNED_VALUE
        self.model.norm.weight[0] = 1.0
        for layer in self.model.layers:
            layer.self_attn.o_proj.weight[0].zero_()
            layer.self_attn.o_proj.bias[0] = 0.0
            layer.mlp.experts.down_proj[:, :, 0] = 0.0  # [E, I, H]: output coordinate 0
            layer.mlp.experts.down_proj_bias[:, 0] = 0.0

    def set_residual_dropout(self, p: float) -> None:
        """Dropout on every attention and MoE block's output before it joins the residual stream,
        in training mode only (a regulariser for fine-tunes that fit their templates to a loss near
        0.003 and must generalise to phrasings they never saw). The blocks write nothing to residual
        coordinate 0, so it stays pinned."""
        for handle in self._dropout_hooks:
            handle.remove()
        self._dropout_hooks = []
        if p > 0:
            for layer in self.model.layers:
                for block in (layer.self_attn, layer.mlp):
                    self._dropout_hooks.append(block.register_forward_hook(partial(_drop_block_output, p)))

    def _set_expert_quantization(self, enabled: bool) -> list[tuple[nn.Module, torch.Tensor, torch.Tensor]]:
        saved = []
        if enabled:
            for layer in self.model.layers:
                ex = layer.mlp.experts
                saved.append((ex, ex.gate_up_proj, ex.down_proj))
                # HF stores [E, H, 2I] / [E, I, H]; MXFP4 blocks run along the input axis.
                gate_up = fake_quantize(ex.gate_up_proj.transpose(1, 2)).transpose(1, 2)
                down = fake_quantize(ex.down_proj.transpose(1, 2)).transpose(1, 2)
                del ex.gate_up_proj, ex.down_proj
                ex.gate_up_proj, ex.down_proj = gate_up, down
        return saved

    def hidden(self, input_rows: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_rows [B, T] (VocabMap.to_inputs) -> final-norm hidden states [B, T, d]."""
        saved = self._set_expert_quantization(self.quantize_experts)
        try:
            out = self.model(input_ids=input_rows, attention_mask=attention_mask, use_cache=False)
        finally:
            for ex, gate_up, down in saved:
                del ex.gate_up_proj, ex.down_proj
                ex.gate_up_proj, ex.down_proj = gate_up, down
        return out.last_hidden_state

    @torch.no_grad()
    def unseen_row(self) -> torch.Tensor:
        """The unembedding row every unseen id shares, `-unseen_scale * e0` [d] (see logits)."""
        row = torch.zeros(self.config.hidden_size)
        row[0] = -self.unseen_scale.item()
        return row

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [..., d] -> [..., compact vocab]; column 0 stands for all unseen ids together."""
        seen = hidden @ self.unembed.T  # [..., V-1]
        unseen = -self.unseen_scale * hidden[..., :1] + math.log(self.vocab.num_unseen)  # [..., 1]
        return torch.cat([unseen, seen], dim=-1)

    def loss(
        self,
        input_ids: torch.Tensor,
        target_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        loss_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Next-token cross-entropy over the target positions loss_mask marks, averaged with the
        mask's values as weights (all 1: the plain mean; train.decision_weights raises some).

        input_ids are input rows: they differ from target_ids where training fed a prompt token as
        the unseen id or as its word class.
        """
        hidden = self.hidden(input_ids, attention_mask)[:, :-1]  # [B, T-1, d]
        targets = target_ids[:, 1:]  # [B, T-1]
        sel = loss_mask[:, 1:] > 0  # [B, T-1]
        weights = loss_mask[:, 1:][sel]  # [M]
        logits = self.logits(hidden[sel])  # [M, V]
        losses = nn.functional.cross_entropy(logits, targets[sel], reduction="none")  # [M]
        return (losses * weights).sum() / weights.sum()
