"""Where each model weight lives in the two published checkpoint layouts.

Original (`original/` in the model repos): `block.N.*`, one fused qkv projection, mlp1 rows
interleaving gate (even) and linear (odd). Hugging Face: `model.layers.N.*`, separate q/k/v,
the same MXFP4 expert blocks under new names (`gate_up_proj` is still interleaved), or, for a
random model saved by transformers, bf16 `gate_up_proj [E, H, 2I]` / `down_proj [E, I, H]`,
transposed relative to ours. Every entry maps one tensor of `GptOss` to its checkpoint source.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gossamer.model.config import ModelConfig


class Layout(Enum):
    ORIGINAL = "original"
    HF = "hf"


class Kind(Enum):
    FLOAT = "float"  # any float dtype in the file; cast to the model's dtype
    FLOAT32 = "float32"  # any float dtype in the file; kept in float32 (norm scales, sinks)
    PACKED = "packed"  # uint8 MXFP4 blocks or scales, kept as they are


@dataclass(frozen=True)
class WeightSource:
    target: str  # name in GptOss.state_dict()
    names: tuple[str, ...]  # checkpoint tensors, concatenated along dim 0 when several
    shapes: tuple[tuple[int, ...], ...]  # expected shape of each
    kind: Kind
    transpose: bool = False  # swap the last two dims (HF bf16 experts)


def expert_names(layout: Layout, layer: int) -> tuple[str, str]:
    """Checkpoint names whose presence tells packed (first) from bf16 (second) experts."""
    if layout is Layout.ORIGINAL:
        return f"block.{layer}.mlp.mlp1_weight.blocks", f"block.{layer}.mlp.mlp1_weight"
    experts = f"model.layers.{layer}.mlp.experts"
    return f"{experts}.gate_up_proj_blocks", f"{experts}.gate_up_proj"


def weight_sources(config: ModelConfig, layout: Layout, packed_experts: bool) -> list[WeightSource]:
    c = config
    hidden, inter, num_experts, vocab = c.hidden_size, c.intermediate_size, c.num_experts, c.vocab_size
    f, f32, u8 = Kind.FLOAT, Kind.FLOAT32, Kind.PACKED
    original = layout is Layout.ORIGINAL
    out: list[WeightSource] = []

    def add(target: str, name: str | tuple[str, ...], shape, kind: Kind, transpose: bool = False) -> None:
        names = (name,) if isinstance(name, str) else name
        shapes = (shape,) if isinstance(shape[0], int) else shape
        out.append(WeightSource(target, names, tuple(tuple(s) for s in shapes), kind, transpose))

    embedding = "embedding.weight" if original else "model.embed_tokens.weight"
    add("embedding.weight", embedding, (vocab, hidden), f)
    for i in range(c.num_layers):
        t = f"blocks.{i}"
        if original:
            p = f"block.{i}"
            add(f"{t}.attn.norm.scale", f"{p}.attn.norm.scale", (hidden,), f32)
            add(f"{t}.attn.qkv.weight", f"{p}.attn.qkv.weight", (c.q_size + 2 * c.kv_size, hidden), f)
            add(f"{t}.attn.qkv.bias", f"{p}.attn.qkv.bias", (c.q_size + 2 * c.kv_size,), f)
            add(f"{t}.attn.sinks", f"{p}.attn.sinks", (c.num_heads,), f32)
            add(f"{t}.attn.out.weight", f"{p}.attn.out.weight", (hidden, c.q_size), f)
            add(f"{t}.attn.out.bias", f"{p}.attn.out.bias", (hidden,), f)
            add(f"{t}.mlp.norm.scale", f"{p}.mlp.norm.scale", (hidden,), f32)
            add(f"{t}.mlp.gate.weight", f"{p}.mlp.gate.weight", (num_experts, hidden), f)
            add(f"{t}.mlp.gate.bias", f"{p}.mlp.gate.bias", (num_experts,), f)
            mlp1, mlp2 = f"{p}.mlp.mlp1_weight", f"{p}.mlp.mlp2_weight"
            mlp1_bias, mlp2_bias = f"{p}.mlp.mlp1_bias", f"{p}.mlp.mlp2_bias"
            packed_suffix = (".blocks", ".scales")
        else:
            p = f"model.layers.{i}"
            a = f"{p}.self_attn"
            add(f"{t}.attn.norm.scale", f"{p}.input_layernorm.weight", (hidden,), f32)
            add(f"{t}.attn.qkv.weight", (f"{a}.q_proj.weight", f"{a}.k_proj.weight", f"{a}.v_proj.weight"),
                ((c.q_size, hidden), (c.kv_size, hidden), (c.kv_size, hidden)), f)
            add(f"{t}.attn.qkv.bias", (f"{a}.q_proj.bias", f"{a}.k_proj.bias", f"{a}.v_proj.bias"),
                ((c.q_size,), (c.kv_size,), (c.kv_size,)), f)
            add(f"{t}.attn.sinks", f"{a}.sinks", (c.num_heads,), f32)
            add(f"{t}.attn.out.weight", f"{a}.o_proj.weight", (hidden, c.q_size), f)
            add(f"{t}.attn.out.bias", f"{a}.o_proj.bias", (hidden,), f)
            add(f"{t}.mlp.norm.scale", f"{p}.post_attention_layernorm.weight", (hidden,), f32)
            add(f"{t}.mlp.gate.weight", f"{p}.mlp.router.weight", (num_experts, hidden), f)
            add(f"{t}.mlp.gate.bias", f"{p}.mlp.router.bias", (num_experts,), f)
            e = f"{p}.mlp.experts"
            mlp1, mlp2 = f"{e}.gate_up_proj", f"{e}.down_proj"
            mlp1_bias, mlp2_bias = f"{e}.gate_up_proj_bias", f"{e}.down_proj_bias"
            packed_suffix = ("_blocks", "_scales")
        if packed_experts:
            blocks, scales = packed_suffix
            add(f"{t}.mlp.mlp1_blocks", mlp1 + blocks, (num_experts, 2 * inter, hidden // 32, 16), u8)
            add(f"{t}.mlp.mlp1_scales", mlp1 + scales, (num_experts, 2 * inter, hidden // 32), u8)
            add(f"{t}.mlp.mlp2_blocks", mlp2 + blocks, (num_experts, hidden, inter // 32, 16), u8)
            add(f"{t}.mlp.mlp2_scales", mlp2 + scales, (num_experts, hidden, inter // 32), u8)
        elif original:
            add(f"{t}.mlp.mlp1_weight", mlp1, (num_experts, 2 * inter, hidden), f)
            add(f"{t}.mlp.mlp2_weight", mlp2, (num_experts, hidden, inter), f)
        else:
            add(f"{t}.mlp.mlp1_weight", mlp1, (num_experts, hidden, 2 * inter), f, transpose=True)
            add(f"{t}.mlp.mlp2_weight", mlp2, (num_experts, inter, hidden), f, transpose=True)
        add(f"{t}.mlp.mlp1_bias", mlp1_bias, (num_experts, 2 * inter), f)
        add(f"{t}.mlp.mlp2_bias", mlp2_bias, (num_experts, hidden), f)
    add("norm.scale", "norm.scale" if original else "model.norm.weight", (hidden,), f32)
    add("unembedding.weight", "unembedding.weight" if original else "lm_head.weight", (vocab, hidden), f)
    return out
