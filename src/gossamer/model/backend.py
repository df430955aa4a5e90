"""How the model reaches its KV cache: every attention layer calls an AttentionBackend.

The model computes q, k, v (RoPE applied) and hands them over; the backend stores k and v in
whatever cache it owns and returns the attention output for the query tokens. Keeping this
boundary lets the same module run the full-sequence reference path, a single-sequence
contiguous cache (`LLM.logits`, parity tests) and the engine's batched paged cache.
"""

from __future__ import annotations

from typing import Protocol

import torch


class AttentionBackend(Protocol):
    def attend(
        self,
        layer: int,
        q: torch.Tensor,  # [N, num_heads, head_dim], RoPE applied
        k: torch.Tensor,  # [N, num_kv_heads, head_dim], RoPE applied
        v: torch.Tensor,  # [N, num_kv_heads, head_dim]
        sinks: torch.Tensor,  # [num_heads] learned logits, float32
        sliding_window: int | None,  # None on full-attention layers
    ) -> torch.Tensor:  # [N, num_heads, head_dim]
        """Store this step's k/v for `layer` and attend the N query tokens over their sequences."""
        ...
