"""The engine on a GPU: batched greedy decoding on CUDA gives the CPU's tokens. Skipped without
CUDA (CI never has a GPU; this runs when a GPU machine is lent). The model's own CUDA parity is
in tests/model/test_cuda.py."""

from __future__ import annotations

import pytest
import torch

from gossamer.engine.config import EngineConfig
from gossamer.engine.engine import EngineCore
from gossamer.engine.protocol import SamplingParams
from gossamer.model.loader import load_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _greedy(engine: EngineCore, prompts: dict[str, list[int]], max_tokens: int) -> dict[str, list[int]]:
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)
    for request_id, prompt in prompts.items():
        engine.add_request(request_id, prompt, params)
    tokens: dict[str, list[int]] = {request_id: [] for request_id in prompts}
    while engine.has_unfinished():
        for out in engine.step():
            tokens[out.request_id].extend(out.token_ids)
    return tokens


def test_engine_greedy_on_cuda_matches_cpu(tiny_checkpoint):
    generator = torch.Generator().manual_seed(0)
    token_ids = torch.randint(0, 200_000, (300,), generator=generator).tolist()
    # Six prompts of different lengths, batched, several past the 16-token sliding window.
    prompts = {f"r{i}": token_ids[: 20 + 37 * i] for i in range(6)}
    outputs = {}
    for device in ("cpu", "cuda"):
        model = load_model(tiny_checkpoint, dtype=torch.float32, device=device)
        config = EngineConfig(kv_cache_memory_bytes="64MiB", block_size=16, max_num_seqs=8,
                              max_num_batched_tokens=128)
        outputs[device] = _greedy(EngineCore(model, config), prompts, max_tokens=24)
    assert all(len(tokens) == 24 for tokens in outputs["cuda"].values())
    assert outputs["cuda"] == outputs["cpu"]
