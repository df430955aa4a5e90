"""Each sampling control does what it says, row by row, with per-sequence generators."""

from __future__ import annotations

import math

import torch

from gossamer.engine.protocol import SamplingParams
from gossamer.engine.sampler import sample
from gossamer.engine.sequence import Sequence


def seq(params: SamplingParams, seed: int | None = 0, outputs: tuple[int, ...] = ()) -> Sequence:
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    s = Sequence(0, "r", 0, [1, 2, 3], 3, params, 100, generator)
    for t in outputs:
        s.append_token(t)
    return s


LOGITS = torch.tensor([[0.0, 3.0, 2.9, 1.0, -1.0, 0.5]])  # [1, 6]


def draws(params: SamplingParams, logits: torch.Tensor = LOGITS, n: int = 300, seed: int = 0) -> list[int]:
    s = seq(params, seed)
    return [sample(logits, [s])[0].token_id for _ in range(n)]


def test_greedy_takes_the_argmax():
    assert sample(LOGITS.repeat(2, 1), [seq(SamplingParams(temperature=0.0))] * 2)[0].token_id == 1


def test_temperature_sampling_covers_the_distribution():
    assert set(draws(SamplingParams(temperature=1.0))) >= {0, 1, 2, 3, 5}


def test_top_k_keeps_only_the_k_best():
    assert set(draws(SamplingParams(temperature=1.0, top_k=2))) == {1, 2}


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.softmax(LOGITS[0], dim=-1)
    assert probs[1] < 0.6 < probs[1] + probs[2]
    assert set(draws(SamplingParams(temperature=1.0, top_p=0.6))) == {1, 2}
    assert set(draws(SamplingParams(temperature=1.0, top_p=0.01))) == {1}


def test_min_p_drops_tokens_below_a_fraction_of_the_best():
    # p(3) / p(1) = e^-2 ~ 0.135; p(5) / p(1) = e^-2.5 ~ 0.08
    assert set(draws(SamplingParams(temperature=1.0, min_p=0.1))) == {1, 2, 3}


def test_logit_bias_can_force_or_ban_a_token():
    assert set(draws(SamplingParams(temperature=1.0, logit_bias={4: 100.0}), n=20)) == {4}
    assert 1 not in draws(SamplingParams(temperature=1.0, logit_bias={1: -100.0}))
    assert sample(LOGITS, [seq(SamplingParams(temperature=0.0, logit_bias={2: 0.2}))])[0].token_id == 2


def test_presence_and_frequency_penalties_follow_openai():
    greedy = SamplingParams(temperature=0.0, presence_penalty=0.15)
    assert sample(LOGITS, [seq(greedy, outputs=(1,))])[0].token_id == 2  # 3.0 - 0.15 < 2.9
    freq = SamplingParams(temperature=0.0, frequency_penalty=0.04)
    assert sample(LOGITS, [seq(freq, outputs=(1,))])[0].token_id == 1  # 3.0 - 0.04 > 2.9
    assert sample(LOGITS, [seq(freq, outputs=(1, 1, 1))])[0].token_id == 2  # 3.0 - 0.12 < 2.9


def test_logprobs_are_the_raw_distribution_with_top_k():
    params = SamplingParams(temperature=0.0, logprobs=3, logit_bias={4: 50.0})
    out = sample(LOGITS, [seq(params)])[0]
    expected = torch.log_softmax(LOGITS[0], dim=-1)
    assert out.token_id == 4
    assert math.isclose(out.logprob.logprob, float(expected[4]), rel_tol=1e-6)
    assert [t for t, _ in out.logprob.top] == [1, 2, 3]
    assert math.isclose(out.logprob.top[0][1], float(expected[1]), rel_tol=1e-6)


def test_same_seed_same_draws_whatever_the_batch():
    params = SamplingParams(temperature=1.0)
    alone = draws(params, n=50, seed=42)
    target = seq(params, 42)
    neighbours = [seq(params, s) for s in range(5)]
    batched = []
    for _ in range(50):
        rows = [*neighbours[:2], target, *neighbours[2:]]
        batched.append(sample(LOGITS.repeat(len(rows), 1), rows)[2].token_id)
    assert batched == alone
    assert draws(params, n=50, seed=43) != alone
