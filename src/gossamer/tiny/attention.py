"""Attention with sinks through torch's fused scaled_dot_product_attention, for training.

transformers runs gpt-oss's attention eagerly (its sinks are not an SDPA feature): on a CPU a
batch of 16 conversations of ~1000 tokens spends most of a step building, masking and
differentiating [B, H, T, T] maps. A sink is one more logit in each row's softmax with a value of
zero, so it is one more key: give every query a constant extra coordinate 1 and the sink key
`sink / scaling` there (zeros elsewhere, value zero); real keys get 0 in that coordinate. The fused
kernel then computes exactly the eager softmax over [scores, sink] without the T x T tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask
from transformers.models.gpt_oss.modeling_gpt_oss import repeat_kv

NAME = "sdpa_sinks"


def sdpa_sinks_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    # query [B, H, T, D]; key, value [B, KV, S, D]; attention_mask additive [B, 1, T, S] (eager's)
    b, h, t, d = query.shape
    key = repeat_kv(key, module.num_key_value_groups)  # [B, H, S, D]
    value = repeat_kv(value, module.num_key_value_groups)  # [B, H, S, D]
    s = key.shape[2]
    q = torch.cat([query, query.new_ones(b, h, t, 1)], -1)  # [B, H, T, D+1]
    sink_key = torch.cat(
        [key.new_zeros(h, d), (module.sinks / scaling).to(key.dtype).view(h, 1)], -1
    )  # [H, D+1]
    k = torch.cat(
        [
            torch.cat([key, key.new_zeros(b, h, s, 1)], -1),
            sink_key.view(1, h, 1, d + 1).expand(b, h, 1, d + 1),
        ],
        2,
    )
    # value padded to D+1 too: the fused CPU kernel wants one head size for q, k and v.
    v = F.pad(value, (0, 1, 0, 1))  # [B, H, S+1, D+1]
    mask = None
    if attention_mask is not None:
        mask = F.pad(attention_mask[..., :s], (0, 1))  # the sink is visible to every query
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=scaling)
    return out[..., :d].transpose(1, 2).contiguous(), None  # [B, T, H, D]


def register() -> str:
    """Make NAME an attention implementation transformers accepts (eager's additive masks)."""
    AttentionInterface.register(NAME, sdpa_sinks_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)
    return NAME
