"""transformers' GptOssForCausalLM as the numerical oracle, loaded from a checkpoint directory."""

from __future__ import annotations

import logging
from pathlib import Path

import torch


def load_reference(hf_dir: Path, dtype: torch.dtype = torch.float32):
    """Load an HF-layout checkpoint with transformers (MXFP4 experts are dequantized on the CPU,
    exactly), with eager attention: the implementation that applies the sinks as written."""
    import transformers
    from transformers import GptOssForCausalLM

    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    model = GptOssForCausalLM.from_pretrained(hf_dir, dtype=dtype, attn_implementation="eager")
    # Some transformers versions keep the dequantized experts in bf16 whatever `dtype` says;
    # every MXFP4 value is exact in bf16, so casting up loses nothing.
    return model.to(dtype).eval()


@torch.inference_mode()
def reference_logits(model, token_ids: torch.Tensor) -> torch.Tensor:
    """[N] ids -> float32 logits [N, vocab] from one full-sequence transformers forward."""
    return model(token_ids[None]).logits[0].float()
