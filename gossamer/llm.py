"""The Python entry point: `LLM(path_or_name).logits(token_ids)`.

    from gossamer import LLM
    llm = LLM("gossamer-tiny", dtype="float32")
    logits = llm.logits([200006, 17360, 200008])  # float32 [3, vocab]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from gossamer.errors import GossamerError
from gossamer.model.attention import ContiguousKVCache
from gossamer.model.gpt_oss import GptOss
from gossamer.model.loader import load_model

_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32,
           "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16}
# Tokens per forward pass in `logits`: bounds the attention scores of a long input.
_PREFILL_CHUNK = 1024


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise GossamerError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


def resolve_model_path(model: str | Path) -> Path:
    """A local directory as is; anything else (gossamer-tiny, gpt-oss-20b, ...) through the hub."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    from gossamer.hub import resolve_model  # lazy: the hub is only needed for model names

    return resolve_model(str(model))


class LLM:
    def __init__(
        self, model: str | Path, dtype: str | torch.dtype = "bfloat16", device: str | torch.device = "cpu"
    ) -> None:
        self.model_path = resolve_model_path(model)
        self.dtype = resolve_dtype(dtype)
        self.device = torch.device(device)
        self.model: GptOss = load_model(self.model_path, dtype=self.dtype, device=self.device)
        self.config = self.model.config

    @torch.inference_mode()
    def logits(self, token_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Next-token logits after each prefix of `token_ids`: float32 [num_tokens, vocab_size] (CPU)."""
        ids = torch.as_tensor(token_ids, dtype=torch.long).flatten().to(self.device)  # [N]
        if ids.numel() == 0:
            raise GossamerError("logits() needs at least one token id")
        vocab_size = self.config.vocab_size
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= vocab_size:
            raise GossamerError(f"token ids must lie in [0, {vocab_size}), got {low}..{high}")
        if ids.numel() > self.config.max_context_length:
            raise GossamerError(
                f"{ids.numel()} tokens exceed the model's context of {self.config.max_context_length}"
            )
        cache = ContiguousKVCache(self.config.num_layers)
        out = torch.empty(ids.numel(), vocab_size, dtype=torch.float32)  # [N, vocab]
        for start in range(0, ids.numel(), _PREFILL_CHUNK):
            chunk = ids[start : start + _PREFILL_CHUNK]  # [n]
            positions = torch.arange(start, start + chunk.numel(), device=self.device)  # [n]
            hidden = self.model(chunk, positions, cache)  # [n, hidden]
            out[start : start + chunk.numel()] = self.model.compute_logits(hidden).cpu()
        return out
