"""Model configuration, read from either published layout's config.json and validated."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gossamer.errors import CheckpointError


@dataclass(frozen=True)
class ModelConfig:
    num_layers: int = 24
    num_experts: int = 32
    experts_per_token: int = 4
    vocab_size: int = 201088
    hidden_size: int = 2880
    intermediate_size: int = 2880
    swiglu_limit: float = 7.0
    head_dim: int = 64
    num_heads: int = 64
    num_kv_heads: int = 8
    sliding_window: int = 128
    initial_context_length: int = 4096
    rope_theta: float = 150000.0
    rope_scaling_factor: float = 32.0
    rope_ntk_alpha: float = 1.0
    rope_ntk_beta: float = 32.0
    rms_norm_eps: float = 1e-5
    # YaRN's ramp bounds rounded to whole dimensions: transformers' default when a Hugging Face
    # config omits `truncate`; the published configs say false, as the reference implementation does.
    rope_truncate: bool = False
    # Layer i uses the sliding window when layer_types[i] == "sliding_attention"; the published
    # models alternate, starting with a sliding layer.
    layer_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.layer_types:
            kinds = tuple(
                "sliding_attention" if i % 2 == 0 else "full_attention" for i in range(self.num_layers)
            )
            object.__setattr__(self, "layer_types", kinds)

    @property
    def max_context_length(self) -> int:
        return int(self.initial_context_length * self.rope_scaling_factor)

    @property
    def q_size(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_kv_heads * self.head_dim

    def is_sliding(self, layer: int) -> bool:
        return self.layer_types[layer] == "sliding_attention"

    def validate(self, source: str = "config") -> None:
        """Raise CheckpointError naming `source` and the impossible field."""

        def bad(field: str, why: str) -> CheckpointError:
            return CheckpointError(f"{source}: field '{field}' {why}")

        positive = [
            "num_layers", "num_experts", "experts_per_token", "vocab_size", "hidden_size",
            "intermediate_size", "head_dim", "num_heads", "num_kv_heads", "sliding_window",
            "initial_context_length",
        ]
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise bad(name, f"must be a positive integer, got {value!r}")
        for name in ("rope_theta", "rope_scaling_factor", "swiglu_limit", "rms_norm_eps"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise bad(name, f"must be a positive number, got {value!r}")
        if self.experts_per_token > self.num_experts:
            raise bad(
                "experts_per_token", f"({self.experts_per_token}) exceeds num_experts ({self.num_experts})"
            )
        if self.num_heads % self.num_kv_heads:
            raise bad("num_attention_heads", f"({self.num_heads}) is not a multiple of num_key_value_heads")
        if self.head_dim % 2:
            raise bad("head_dim", f"must be even for rotary embeddings, got {self.head_dim}")
        if self.hidden_size % 32 or self.intermediate_size % 32:
            raise bad("hidden_size", "and intermediate_size must be multiples of 32 (MXFP4 blocks)")
        if len(self.layer_types) != self.num_layers:
            raise bad("layer_types", f"has {len(self.layer_types)} entries for {self.num_layers} layers")
        unknown = set(self.layer_types) - {"sliding_attention", "full_attention"}
        if unknown:
            raise bad("layer_types", f"has unknown kinds {sorted(unknown)}")

    def to_original_json(self) -> dict[str, Any]:
        """The original layout's config.json (as in `original/config.json` of the model repos)."""
        d = asdict(self)
        return {
            "num_hidden_layers": d["num_layers"],
            "num_experts": d["num_experts"],
            "experts_per_token": d["experts_per_token"],
            "vocab_size": d["vocab_size"],
            "hidden_size": d["hidden_size"],
            "intermediate_size": d["intermediate_size"],
            "swiglu_limit": d["swiglu_limit"],
            "head_dim": d["head_dim"],
            "num_attention_heads": d["num_heads"],
            "num_key_value_heads": d["num_kv_heads"],
            "sliding_window": d["sliding_window"],
            "initial_context_length": d["initial_context_length"],
            "rope_theta": d["rope_theta"],
            "rope_scaling_factor": d["rope_scaling_factor"],
            "rope_ntk_alpha": d["rope_ntk_alpha"],
            "rope_ntk_beta": d["rope_ntk_beta"],
        }

    def to_hf_json(self, quantized: bool = True) -> dict[str, Any]:
        """The Hugging Face layout's config.json, loadable by transformers' GptOssForCausalLM."""
        out: dict[str, Any] = {
            "architectures": ["GptOssForCausalLM"],
            "model_type": "gpt_oss",
            "attention_bias": True,
            "attention_dropout": 0.0,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "hidden_size": self.hidden_size,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "layer_types": list(self.layer_types),
            "max_position_embeddings": self.max_context_length,
            "num_attention_heads": self.num_heads,
            "num_experts_per_tok": self.experts_per_token,
            "num_hidden_layers": self.num_layers,
            "num_key_value_heads": self.num_kv_heads,
            "num_local_experts": self.num_experts,
            "output_router_logits": False,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_scaling": {
                "beta_fast": self.rope_ntk_beta,
                "beta_slow": self.rope_ntk_alpha,
                "factor": self.rope_scaling_factor,
                "original_max_position_embeddings": self.initial_context_length,
                "rope_type": "yarn",
                "truncate": self.rope_truncate,
            },
            "rope_theta": self.rope_theta,
            "router_aux_loss_coef": 0.9,
            "sliding_window": self.sliding_window,
            "swiglu_limit": self.swiglu_limit,
            "tie_word_embeddings": False,
            "torch_dtype": "bfloat16",
            "use_cache": True,
            "vocab_size": self.vocab_size,
        }
        # o200k_harmony's <|return|> and <|endoftext|>; toy vocabularies do not have them.
        if self.vocab_size > 200002:
            out["eos_token_id"] = 200002
            out["pad_token_id"] = 199999
        if quantized:
            out["quantization_config"] = {
                "quant_method": "mxfp4",
                "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                           "model.embed_tokens", "lm_head"],
            }
        return out


# (config key, ModelConfig field) for each layout; a key missing from the file is an error.
_ORIGINAL_KEYS = {
    "num_hidden_layers": "num_layers",
    "num_experts": "num_experts",
    "experts_per_token": "experts_per_token",
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "intermediate_size": "intermediate_size",
    "head_dim": "head_dim",
    "num_attention_heads": "num_heads",
    "num_key_value_heads": "num_kv_heads",
    "sliding_window": "sliding_window",
    "initial_context_length": "initial_context_length",
    "rope_theta": "rope_theta",
    "rope_scaling_factor": "rope_scaling_factor",
}
_ORIGINAL_OPTIONAL = {"swiglu_limit": "swiglu_limit", "rope_ntk_alpha": "rope_ntk_alpha",
                      "rope_ntk_beta": "rope_ntk_beta"}
_HF_KEYS = {
    "num_hidden_layers": "num_layers",
    "num_local_experts": "num_experts",
    "num_experts_per_tok": "experts_per_token",
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "intermediate_size": "intermediate_size",
    "num_attention_heads": "num_heads",
    "num_key_value_heads": "num_kv_heads",
    "sliding_window": "sliding_window",
}
_HF_OPTIONAL = {"head_dim": "head_dim", "swiglu_limit": "swiglu_limit", "rms_norm_eps": "rms_norm_eps"}


def is_hf_config(raw: dict[str, Any]) -> bool:
    return "num_local_experts" in raw or raw.get("model_type") == "gpt_oss"


def config_from_dict(raw: dict[str, Any], source: str = "config") -> ModelConfig:
    """Build and validate a ModelConfig from either layout's config.json contents."""
    if not isinstance(raw, dict):
        raise CheckpointError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    hf = is_hf_config(raw)
    required, optional = (_HF_KEYS, _HF_OPTIONAL) if hf else (_ORIGINAL_KEYS, _ORIGINAL_OPTIONAL)
    kwargs: dict[str, Any] = {}
    for key, field in required.items():
        if key not in raw:
            layout = "Hugging Face" if hf else "original"
            raise CheckpointError(f"{source}: missing field '{key}' (required in the {layout} layout)")
        kwargs[field] = raw[key]
    for key, field in optional.items():
        if key in raw:
            kwargs[field] = raw[key]
    if hf:
        # The published configs carry `rope_theta` and `rope_scaling`; transformers >= 5 saves both
        # inside `rope_parameters`.
        rope_key = "rope_parameters" if raw.get("rope_parameters") else "rope_scaling"
        rope = raw.get(rope_key) or {}
        if not isinstance(rope, dict):
            raise CheckpointError(f"{source}: field '{rope_key}' must be an object")
        if "rope_theta" in raw:
            kwargs["rope_theta"] = raw["rope_theta"]
        elif "rope_theta" in rope:
            kwargs["rope_theta"] = rope["rope_theta"]
        else:
            raise CheckpointError(
                f"{source}: missing field 'rope_theta' (required in the Hugging Face layout, "
                "at top level or in 'rope_parameters')"
            )
        kwargs["rope_truncate"] = bool(rope.get("truncate", True)) if rope else False
        if rope and rope.get("rope_type", rope.get("type")) not in ("yarn", None):
            raise CheckpointError(f"{source}: field '{rope_key}.rope_type' must be 'yarn'")
        kwargs["rope_scaling_factor"] = rope.get("factor", 1.0)
        kwargs["initial_context_length"] = rope.get(
            "original_max_position_embeddings", raw.get("max_position_embeddings", 4096)
        )
        kwargs["rope_ntk_alpha"] = rope.get("beta_slow", 1.0)
        kwargs["rope_ntk_beta"] = rope.get("beta_fast", 32.0)
        if "head_dim" not in kwargs and isinstance(raw["hidden_size"], int):
            kwargs["head_dim"] = raw["hidden_size"] // raw["num_attention_heads"]
        if raw.get("layer_types") is not None:
            if not isinstance(raw["layer_types"], list):
                raise CheckpointError(f"{source}: field 'layer_types' must be a list")
            kwargs["layer_types"] = tuple(raw["layer_types"])
    for field in ("rope_theta", "rope_scaling_factor", "rope_ntk_alpha", "rope_ntk_beta", "swiglu_limit"):
        if isinstance(kwargs.get(field), int) and not isinstance(kwargs[field], bool):
            kwargs[field] = float(kwargs[field])
    try:
        config = ModelConfig(**kwargs)
    except TypeError as exc:  # pragma: no cover - only on a programming error
        raise CheckpointError(f"{source}: {exc}") from exc
    config.validate(source)
    return config


def load_config(path: str | Path) -> ModelConfig:
    """Read config.json (or a directory holding one) of either layout."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{path}: config file not found")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from exc
    return config_from_dict(raw, str(path))


PRESETS: dict[str, ModelConfig] = {
    "20b": ModelConfig(),
    "120b": ModelConfig(num_layers=36, num_experts=128),
    # A shape small enough for the test suite, with both attention kinds and a full vocabulary.
    "tiny": ModelConfig(
        num_layers=4, num_experts=4, experts_per_token=2, vocab_size=201088, hidden_size=64,
        intermediate_size=64, head_dim=16, num_heads=4, num_kv_heads=2, sliding_window=16,
    ),
}
