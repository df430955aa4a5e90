"""On the serving path (a bf16 model through the CPU kernels) a sequence's tokens do not depend
on what else runs: alone, batched with others, under any prefill chunk size, with speculative
decoding on or off. Each token's computation is the same bits in every case, so this holds
exactly, not just up to near-ties."""

from __future__ import annotations

import pytest

from gossamer import kernels
from gossamer.engine.protocol import SamplingParams
from tests.engine.conftest import prompts, run_to_completion

LENGTHS = [5, 17, 40, 2, 23]
GREEDY = SamplingParams(temperature=0.0, max_tokens=12)
SEEDED = [SamplingParams(temperature=1.0, top_k=50, top_p=0.95, seed=7 + i, max_tokens=12) for i in range(2)]


@pytest.fixture(scope="module", autouse=True)
def serving_path():
    if not kernels.available() or kernels.experts_precision() != "int8":
        pytest.skip("bitwise batch invariance is a property of the kernels with int8 experts")


def _run(make_engine, bf16_model, requests, **config) -> dict[str, list[int]]:
    engine = make_engine(bf16_model, kv_cache_memory_bytes="8MiB", **config)
    for name, prompt, params in requests:
        engine.add_request(name, prompt, params)
    return run_to_completion(engine)


@pytest.fixture(scope="module")
def requests():
    greedy = [(f"g{i}", p, GREEDY) for i, p in enumerate(prompts(LENGTHS))]
    # Prompts that repeat themselves give prompt lookup something to find.
    seeded = [(f"s{i}", p + p, params) for i, (p, params) in enumerate(zip(prompts([11, 20], seed=3), SEEDED,
                                                                            strict=True))]
    return greedy + seeded


def test_alone_equals_batched_equals_any_chunking_with_and_without_speculation(make_engine, bf16_model,
                                                                                requests):
    alone = {}
    for name, prompt, params in requests:
        alone |= _run(make_engine, bf16_model, [(name, prompt, params)], speculative=False)
    assert _run(make_engine, bf16_model, requests, speculative=False) == alone
    assert _run(make_engine, bf16_model, requests, speculative=True, speculative_max_seqs=16) == alone
    assert _run(make_engine, bf16_model, requests, max_num_batched_tokens=7) == alone
    assert _run(make_engine, bf16_model, requests[::-1], max_num_seqs=3, max_num_batched_tokens=20) == alone
