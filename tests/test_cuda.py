"""The CUDA path: the same model and engine on a GPU agree with the CPU. Skipped without CUDA
(CI never has a GPU; these run when a GPU machine is lent)."""

from __future__ import annotations

import pytest
import torch

from gossamer.engine.engine import EngineConfig, EngineCore
from gossamer.engine.protocol import SamplingParams
from gossamer.llm import LLM

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(scope="module")
def token_ids() -> list[int]:
    # Past the tiny preset's 16-token window many times over, and past a 256-token boundary.
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 200_000, (300,), generator=generator).tolist()


def test_float32_logits_match_cpu(tiny_checkpoints, token_ids):
    for layout, path in tiny_checkpoints.items():
        cpu = LLM(path, dtype="float32").logits(token_ids)  # [300, vocab]
        gpu = LLM(path, dtype="float32", device="cuda").logits(token_ids)  # [300, vocab]
        assert gpu.device.type == "cpu" and gpu.dtype == torch.float32
        assert (cpu - gpu).abs().max().item() <= 1e-3, layout


def test_bfloat16_top1_agrees_with_float32(tiny_checkpoint, token_ids):
    reference = LLM(tiny_checkpoint, dtype="float32").logits(token_ids)  # [300, vocab]
    bf16 = LLM(tiny_checkpoint, dtype="bfloat16", device="cuda").logits(token_ids)  # [300, vocab]
    agreement = (reference.argmax(-1) == bf16.argmax(-1)).float().mean().item()
    assert agreement >= 0.99, agreement


def _greedy(engine: EngineCore, prompts: dict[str, list[int]], max_tokens: int) -> dict[str, list[int]]:
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)
    for request_id, prompt in prompts.items():
        engine.add_request(request_id, prompt, params)
    tokens: dict[str, list[int]] = {request_id: [] for request_id in prompts}
    while engine.has_unfinished():
        for out in engine.step():
            tokens[out.request_id].extend(out.token_ids)
    return tokens


def test_engine_greedy_on_cuda_matches_cpu(tiny_checkpoint, token_ids):
    from gossamer.model.loader import load_model

    prompts = {f"r{i}": token_ids[: 20 + 37 * i] for i in range(6)}
    outputs = {}
    for device in ("cpu", "cuda"):
        model = load_model(tiny_checkpoint, dtype=torch.float32, device=device)
        config = EngineConfig(kv_cache_memory_bytes="64MiB", block_size=16, max_num_seqs=8,
                              max_num_batched_tokens=128)
        outputs[device] = _greedy(EngineCore(model, config), prompts, max_tokens=24)
    assert outputs["cuda"] == outputs["cpu"]
    assert all(len(tokens) == 24 for tokens in outputs["cuda"].values())
