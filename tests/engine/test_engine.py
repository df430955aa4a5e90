"""Greedy and seeded outputs do not depend on batching, prefix hits or chunk sizes; blocks come back."""

from __future__ import annotations

import pytest
import torch

from gossamer.engine.protocol import RequestRejected, SamplingParams
from gossamer.model.attention import FullSequenceBackend
from tests.engine.conftest import SMALL, prompts, reference_greedy, run_to_completion

GREEDY = SamplingParams(temperature=0.0, max_tokens=16)
LENGTHS = [5, 17, 40, 33, 2, 64, 23, 9]


@pytest.fixture(scope="module")
def references(model) -> list[list[int]]:
    return [reference_greedy(model, p, 16) for p in prompts(LENGTHS)]


def test_engine_logits_match_full_sequence_path(model, make_engine):
    prompt = prompts([30])[0]
    engine = make_engine(max_num_batched_tokens=7)  # the prompt goes through in 5 chunks
    engine.add_request("a", prompt, SamplingParams(temperature=0.0, max_tokens=1, logprobs=5))
    (out,) = [o for _ in range(10) for o in engine.step()]
    positions = torch.arange(len(prompt))
    with torch.inference_mode():
        hidden = model(torch.tensor(prompt), positions, FullSequenceBackend(positions))
        expected = torch.log_softmax(model.compute_logits(hidden[-1:])[0], dim=-1)  # [vocab]
    assert out.token_ids == (int(expected.argmax()),)
    top_values, top_ids = expected.topk(5)
    assert [t for t, _ in out.logprobs[0].top] == top_ids.tolist()
    torch.testing.assert_close(torch.tensor([lp for _, lp in out.logprobs[0].top]), top_values,
                               rtol=1e-5, atol=1e-5)


def test_greedy_alone_matches_reference(make_engine, references):
    for prompt, expected in zip(prompts(LENGTHS), references, strict=True):
        engine = make_engine()
        engine.add_request("solo", prompt, GREEDY)
        assert run_to_completion(engine)["solo"] == expected


def test_greedy_batched_with_seven_others(make_engine, references):
    engine = make_engine()
    for i, prompt in enumerate(prompts(LENGTHS)):
        engine.add_request(str(i), prompt, GREEDY)
    got = run_to_completion(engine)
    assert [got[str(i)] for i in range(len(LENGTHS))] == references


@pytest.mark.parametrize("chunk", [2, 5, 13, 512])
def test_greedy_any_prefill_chunk_size(make_engine, references, chunk):
    engine = make_engine(max_num_batched_tokens=chunk)
    for i, prompt in enumerate(prompts(LENGTHS)[:4]):
        engine.add_request(str(i), prompt, GREEDY)
    got = run_to_completion(engine)
    assert [got[str(i)] for i in range(4)] == references[:4]


def test_greedy_after_prefix_cache_hit(model, make_engine):
    shared = prompts([45])[0]
    first, second = [*shared, 7, 8, 9], [*shared, 100, 200]
    engine = make_engine()
    engine.add_request("first", first, GREEDY)
    run_to_completion(engine)
    engine.add_request("second", second, GREEDY)
    outputs = []
    while engine.has_unfinished():
        outputs += engine.step()
    # 45 shared tokens = 11 full blocks of 4; the window (8) of the sliding layers is restored too.
    assert outputs[0].num_cached_tokens == 44
    assert [t for o in outputs for t in o.token_ids] == reference_greedy(model, second, 16)
    assert engine.stats().prefix_hit_rate > 0


def test_prefix_hit_of_whole_previous_conversation(model, make_engine):
    """An agent loop resends prompt + answer + a new turn: most of it comes from the cache."""
    engine = make_engine()
    prompt = prompts([21])[0]
    engine.add_request("turn1", prompt, GREEDY)
    answer = run_to_completion(engine)["turn1"]
    follow_up = prompt + answer + [5, 6, 7]
    engine.add_request("turn2", follow_up, GREEDY)
    outputs = []
    while engine.has_unfinished():
        outputs += engine.step()
    assert outputs[0].num_cached_tokens == 36  # 9 blocks: every full block of prompt + answer
    assert [t for o in outputs for t in o.token_ids] == reference_greedy(model, follow_up, 16)


def test_seeded_sampling_same_alone_and_batched(make_engine):
    params = SamplingParams(temperature=1.0, top_p=0.9, top_k=50, seed=1234, max_tokens=12)
    target = prompts([19])[0]
    alone = make_engine()
    alone.add_request("t", target, params)
    expected = run_to_completion(alone)["t"]
    batched = make_engine(max_num_batched_tokens=9)
    for i, prompt in enumerate(prompts(LENGTHS, seed=5)):
        batched.add_request(str(i), prompt, SamplingParams(temperature=0.8, seed=i, max_tokens=10))
    batched.add_request("t", target, params)
    assert run_to_completion(batched)["t"] == expected
    other_seed = make_engine()
    other_seed.add_request("t", target, SamplingParams(temperature=1.0, top_p=0.9, top_k=50, seed=99,
                                                       max_tokens=12))
    assert run_to_completion(other_seed)["t"] != expected


def test_abort_returns_every_block(make_engine):
    engine = make_engine()
    start = engine.block_manager.num_free_blocks
    for i, prompt in enumerate(prompts(LENGTHS)):
        engine.add_request(str(i), prompt, SamplingParams(temperature=0.0, max_tokens=50))
    for _ in range(4):
        engine.step()
    assert engine.block_manager.num_free_blocks < start
    outputs = [o for i in range(len(LENGTHS)) for o in engine.abort_request(str(i))]
    assert all(o.finished and o.finish_reason == "abort" for o in outputs)
    assert engine.block_manager.num_free_blocks == start
    assert not engine.has_unfinished() and engine.stats().num_aborted == len(LENGTHS)
    manager = engine.block_manager
    assert all(count == 0 for count in manager.full.ref_counts + manager.sliding.ref_counts)


def test_64_requests_on_a_tiny_cache_all_complete(model, make_engine):
    # ~20 full-attention blocks of 4 tokens: far less than 64 requests need together, so
    # requests wait, and running ones get preempted and recomputed.
    engine = make_engine(kv_cache_memory_bytes=80 * 1024, max_num_seqs=16, max_num_batched_tokens=32)
    assert engine.block_manager.full.num_blocks < 64
    all_prompts = prompts([3 + (7 * i) % 30 for i in range(64)], seed=3)
    start = engine.block_manager.num_free_blocks
    for i, prompt in enumerate(all_prompts):
        engine.add_request(str(i), prompt, SamplingParams(temperature=0.0, max_tokens=8))
    got = run_to_completion(engine)
    assert engine.scheduler.num_preemptions > 0
    for i in range(0, 64, 9):  # a sample of them against the solo reference (all would be slow)
        assert got[str(i)] == reference_greedy(model, all_prompts[i], 8), i
    assert all(len(got[str(i)]) == 8 for i in range(64))
    assert engine.block_manager.num_free_blocks == start
    assert engine.stats().num_finished == 64


def test_over_long_request_rejected_naming_the_limit(make_engine):
    engine = make_engine(max_context_length=64)
    engine.add_request("ok", prompts([10])[0], GREEDY)
    with pytest.raises(RequestRejected, match="64") as info:
        engine.add_request("long", prompts([60])[0], SamplingParams(max_tokens=10))
    assert info.value.field == "max_tokens" and info.value.limit == 64
    with pytest.raises(RequestRejected, match="context length"):
        engine.add_request("longer", prompts([64])[0], SamplingParams())
    assert len(run_to_completion(engine)["ok"]) == 16


def test_request_larger_than_the_whole_cache_rejected(make_engine):
    engine = make_engine(kv_cache_memory_bytes=80 * 1024, max_num_batched_tokens=32)
    limit = engine.block_manager.full.num_blocks * 4
    with pytest.raises(RequestRejected, match="KV cache capacity"):
        engine.add_request("big", prompts([limit - 5])[0], SamplingParams(max_tokens=10))


def test_stop_tokens_and_max_tokens(make_engine, references):
    prompt = prompts(LENGTHS)[0]
    stop = references[0][5]
    engine = make_engine()
    engine.add_request("s", prompt, SamplingParams(temperature=0.0, stop_token_ids=(stop,), max_tokens=16))
    engine.add_request("l", prompt, SamplingParams(temperature=0.0, max_tokens=3))
    outputs = []
    while engine.has_unfinished():
        outputs += engine.step()
    last = {o.request_id: o for o in outputs if o.finished}
    assert last["s"].finish_reason == "stop" and last["s"].stop_token_id == stop
    assert [t for o in outputs if o.request_id == "s" for t in o.token_ids] == references[0][:6]
    assert last["l"].finish_reason == "length"
    assert [t for o in outputs if o.request_id == "l" for t in o.token_ids] == references[0][:3]


def test_n_sequences_share_the_prompt(make_engine):
    prompt = prompts([26])[0]
    engine = make_engine()
    engine.add_request("n", prompt, SamplingParams(temperature=1.0, seed=7, n=3, max_tokens=10))
    outputs = []
    while engine.has_unfinished():
        outputs += engine.step()
    by_index = {i: [t for o in outputs if o.index == i for t in o.token_ids] for i in range(3)}
    assert all(len(tokens) == 10 for tokens in by_index.values())
    assert len({tuple(t) for t in by_index.values()}) == 3  # different seeds per sequence
    forks = [o for o in outputs if o.index > 0]
    assert all(o.num_cached_tokens == 24 for o in forks)  # the 6 full prompt blocks were shared
    assert sum(o.finished for o in outputs) == 3


def test_sliding_layers_hold_only_the_window(make_engine):
    engine = make_engine()
    engine.add_request("long", prompts([100])[0], SamplingParams(temperature=0.0, max_tokens=20))
    engine.step()
    engine.step()
    (seq,) = engine.scheduler.running
    held = [b for b in seq.sliding_block_table if b is not None]
    # window 8, blocks of 4: at most window / block + 2 blocks, versus 100 / 4 for a full layer
    assert len(held) <= SMALL.sliding_window // 4 + 2
    assert len(seq.full_block_table) >= 25


def test_long_prefill_does_not_freeze_a_running_stream(make_engine):
    engine = make_engine(max_num_batched_tokens=16, kv_cache_memory_bytes="4MiB")
    engine.add_request("short", prompts([4])[0], SamplingParams(temperature=0.0, max_tokens=20))
    engine.step()
    engine.add_request("long", prompts([150], seed=9)[0], SamplingParams(temperature=0.0, max_tokens=2))
    steps_until_long_starts = 0
    while True:
        outputs = engine.step()
        by_id = {o.request_id for o in outputs}
        if "long" in by_id:
            break
        assert "short" in by_id  # one token for the stream on every step of the chunked prefill
        steps_until_long_starts += 1
    assert steps_until_long_starts >= 150 // 16


def test_prompt_chunks_shrink_while_others_decode(make_engine):
    """Alone a prompt takes the whole budget; beside a decoding stream at most the prefill cap."""
    engine = make_engine(max_num_batched_tokens=64, max_prefill_tokens_while_decoding=8,
                         kv_cache_memory_bytes="4MiB")
    engine.add_request("first", prompts([100], seed=3)[0], SamplingParams(temperature=0.0, max_tokens=30))
    assert [item.num_tokens for item in engine.scheduler.schedule()] == [64]
    engine.abort_request("first")
    engine.add_request("first", prompts([100], seed=3)[0], SamplingParams(temperature=0.0, max_tokens=30))
    while not any(out.token_ids for out in engine.step()):
        pass
    engine.add_request("second", prompts([100], seed=4)[0], SamplingParams(temperature=0.0, max_tokens=2))
    assert sorted(item.num_tokens for item in engine.scheduler.schedule()) == [1, 8]
