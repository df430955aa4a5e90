"""A small random gpt-oss checkpoint in float32 (exact comparisons) and a reference greedy decoder."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gossamer.engine.config import EngineConfig
from gossamer.engine.engine import EngineCore
from gossamer.model.attention import ContiguousKVCache
from gossamer.model.config import ModelConfig
from gossamer.model.gpt_oss import GptOss
from gossamer.model.loader import load_model
from gossamer.testing.checkpoint import write_checkpoint

# Both attention kinds, and a window (8) shorter than the prompts so sliding blocks get released.
SMALL = ModelConfig(
    num_layers=4, num_experts=4, experts_per_token=2, vocab_size=512, hidden_size=64,
    intermediate_size=64, head_dim=16, num_heads=4, num_kv_heads=2, sliding_window=8,
)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("small"), SMALL, layout="original", seed=0)


@pytest.fixture(scope="session")
def model(checkpoint) -> GptOss:
    """A random checkpoint written and loaded the real way (MXFP4 experts stay packed), in float32."""
    return load_model(checkpoint, dtype=torch.float32)


# For the bf16 serving path: heads of 64 (the vdpbf16ps attention kernel) and rows of 128.
WIDE = dataclasses.replace(SMALL, hidden_size=128, intermediate_size=128, head_dim=64)


@pytest.fixture(scope="session")
def bf16_model(tmp_path_factory) -> GptOss:
    """bf16 weights: on the CPU the serving path (kernels, int8 experts where AVX512-VNNI exists)."""
    path = write_checkpoint(tmp_path_factory.mktemp("wide"), WIDE, layout="original", seed=0)
    return load_model(path, dtype=torch.bfloat16)


@pytest.fixture
def make_engine(model):
    def make(model_override: GptOss | None = None, **overrides) -> EngineCore:
        settings = {"kv_cache_memory_bytes": "2MiB", "block_size": 4, "max_num_seqs": 8,
                    "max_num_batched_tokens": 64} | overrides
        return EngineCore(model_override or model, EngineConfig(**settings))

    return make


@torch.inference_mode()
def reference_greedy(model: GptOss, prompt: list[int], num_tokens: int) -> list[int]:
    """Greedy decode of one sequence with the model's own contiguous cache."""
    cache = ContiguousKVCache(model.config.num_layers)
    ids = torch.tensor(prompt)
    hidden = model(ids, torch.arange(len(prompt)), cache)  # [N, hidden]
    out = []
    for _ in range(num_tokens):
        token = int(model.compute_logits(hidden[-1:]).argmax())
        out.append(token)
        position = len(prompt) + len(out) - 1
        hidden = model(torch.tensor([token]), torch.tensor([position]), cache)
    return out


def run_to_completion(engine: EngineCore) -> dict[str, list[int]]:
    """Step until idle; request id -> generated tokens (index 0), checking finishing is reported once."""
    tokens: dict[str, list[int]] = {}
    finished: set[tuple[str, int]] = set()
    while engine.has_unfinished():
        for out in engine.step():
            key = (out.request_id, out.index)
            assert key not in finished, f"{key} produced output after finishing"
            name = out.request_id if out.index == 0 else f"{out.request_id}/{out.index}"
            tokens.setdefault(name, []).extend(out.token_ids)
            if out.finished:
                finished.add(key)
    return tokens


def prompts(lengths: list[int], seed: int = 1, vocab: int = 512) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (n,), generator=g).tolist() for n in lengths]
