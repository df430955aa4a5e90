"""The batched sampler: each control does what it says, rows match a per-row reference on fixed
seeds, and a row's draw depends only on its logits and (seed, position)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from gossamer.engine.protocol import SamplingParams
from gossamer.engine.sampler import SamplingRow, apply_token_bitmask, is_greedy, sample, uniform

LOGITS = torch.tensor([[0.0, 3.0, 2.9, 1.0, -1.0, 0.5]])  # [1, 6]


def row(params: SamplingParams, seed: int = 0, position: int = 0, outputs: tuple[int, ...] = (),
        allowed: torch.Tensor | None = None) -> SamplingRow:
    return SamplingRow(params, seed, position, Counter(outputs), allowed)


def draws(params: SamplingParams, logits: torch.Tensor = LOGITS, n: int = 300, seed: int = 0) -> list[int]:
    return [t.token_id for t in sample(logits.repeat(n, 1), [row(params, seed, i) for i in range(n)])]


def test_greedy_takes_the_argmax():
    assert sample(LOGITS.repeat(2, 1), [row(SamplingParams(temperature=0.0))] * 2)[0].token_id == 1


def test_temperature_sampling_covers_the_distribution():
    assert set(draws(SamplingParams(temperature=1.0))) >= {0, 1, 2, 3, 5}


def test_draws_follow_the_distribution():
    counts = Counter(draws(SamplingParams(temperature=1.0), n=4000))
    probs = torch.softmax(LOGITS[0], dim=-1)
    for token in range(6):
        assert abs(counts[token] / 4000 - float(probs[token])) < 0.03


def test_top_k_keeps_only_the_k_best():
    assert set(draws(SamplingParams(temperature=1.0, top_k=2))) == {1, 2}


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.softmax(LOGITS[0], dim=-1)
    assert probs[1] < 0.6 < probs[1] + probs[2]
    assert set(draws(SamplingParams(temperature=1.0, top_p=0.6))) == {1, 2}
    assert set(draws(SamplingParams(temperature=1.0, top_p=0.01))) == {1}


def test_top_p_over_a_flat_vocabulary_grows_its_selection():
    """Mass spread over 5000 tokens: the first partial selection (64) cannot reach p."""
    logits = torch.zeros(1, 5000)
    logits[0, 4000:] = -1.0
    got = set(draws(SamplingParams(temperature=1.0, top_p=0.5), logits=logits, n=400))
    assert got <= set(range(4000)) and len(got) > 300


def test_min_p_drops_tokens_below_a_fraction_of_the_best():
    # p(3) / p(1) = e^-2 ~ 0.135; p(5) / p(1) = e^-2.5 ~ 0.08
    assert set(draws(SamplingParams(temperature=1.0, min_p=0.1))) == {1, 2, 3}


def test_logit_bias_can_force_or_ban_a_token():
    assert set(draws(SamplingParams(temperature=1.0, logit_bias={4: 100.0}), n=20)) == {4}
    assert 1 not in draws(SamplingParams(temperature=1.0, logit_bias={1: -100.0}))
    assert sample(LOGITS, [row(SamplingParams(temperature=0.0, logit_bias={2: 0.2}))])[0].token_id == 2


def test_presence_and_frequency_penalties_follow_openai():
    greedy = SamplingParams(temperature=0.0, presence_penalty=0.15)
    assert sample(LOGITS, [row(greedy, outputs=(1,))])[0].token_id == 2  # 3.0 - 0.15 < 2.9
    freq = SamplingParams(temperature=0.0, frequency_penalty=0.04)
    assert sample(LOGITS, [row(freq, outputs=(1,))])[0].token_id == 1  # 3.0 - 0.04 > 2.9
    assert sample(LOGITS, [row(freq, outputs=(1, 1, 1))])[0].token_id == 2  # 3.0 - 0.12 < 2.9


def test_logprobs_are_the_raw_distribution_with_top_k():
    params = SamplingParams(temperature=0.0, logprobs=3, logit_bias={4: 50.0})
    out = sample(LOGITS, [row(params)])[0]
    expected = torch.log_softmax(LOGITS[0], dim=-1)
    assert out.token_id == 4
    assert math.isclose(out.logprob.logprob, float(expected[4]), rel_tol=1e-6)
    assert [t for t, _ in out.logprob.top] == [1, 2, 3]
    assert math.isclose(out.logprob.top[0][1], float(expected[1]), rel_tol=1e-6)


def test_allowed_token_bitmask_restricts_every_mode():
    allowed = torch.tensor([(1 << 3) | (1 << 5)], dtype=torch.int32)  # tokens 3 and 5
    assert sample(LOGITS, [row(SamplingParams(temperature=0.0), allowed=allowed)])[0].token_id == 3
    rows = [row(SamplingParams(temperature=1.0), 0, i, (), allowed) for i in range(200)]
    got = {t.token_id for t in sample(LOGITS.repeat(200, 1), rows)}
    assert got == {3, 5}
    masked = apply_token_bitmask(torch.zeros(1, 40), torch.tensor([[1, 1 << 7]], dtype=torch.int32))
    assert torch.isfinite(masked[0]).nonzero().flatten().tolist() == [0, 39]


def test_uniform_is_keyed_by_seed_and_position():
    values = [uniform(seed, position) for seed in range(20) for position in range(50)]
    assert all(0 <= u < 1 for u in values) and len(set(values)) == len(values)
    assert uniform(7, 3) == uniform(7, 3)
    assert abs(sum(values) / len(values) - 0.5) < 0.03


def test_same_seed_same_draws_whatever_the_batch():
    params = SamplingParams(temperature=1.0)
    alone = draws(params, n=50, seed=42)
    batched = []
    for position in range(50):
        rows = [row(params, s, position) for s in range(3)] + [row(params, 42, position)]
        rows += [row(SamplingParams(temperature=0.7, top_k=3, top_p=0.9), 5, position),
                 row(SamplingParams(temperature=0.0, logprobs=2), 6, position)]
        batched.append(sample(LOGITS.repeat(len(rows), 1), rows)[3].token_id)
    assert batched == alone
    assert draws(params, n=50, seed=43) != alone


# ----------------------------------------------------------------- the per-row reference
def reference_row(logits: torch.Tensor, r: SamplingRow) -> int:
    """One row, the plain way: full sort for top-p, then the same inverse-CDF draw."""
    p = r.params
    x = logits.clone().double()  # [V]
    for token, bias in p.logit_bias.items():
        x[token] += bias
    for token, count in (r.output_counts or {}).items():
        x[token] -= count * p.frequency_penalty + p.presence_penalty
    if is_greedy(p):
        return int(x.argmax())
    x = x / p.temperature
    if p.top_k is not None and p.top_k < x.shape[0]:
        x[x < torch.sort(x, descending=True).values[p.top_k - 1]] = float("-inf")
    probs = torch.softmax(x, dim=-1)
    if p.top_p < 1:
        ordered = torch.sort(probs, descending=True).values
        before = torch.cumsum(ordered, dim=0) - ordered
        probs[probs < ordered[before < p.top_p][-1]] = 0
    if p.min_p > 0:
        probs[probs < p.min_p * probs.max()] = 0
    cdf = torch.cumsum(probs, dim=0)
    u = uniform(r.seed, r.position)
    return int((cdf <= u * cdf[-1]).sum().clamp(max=x.shape[0] - 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_sampler_matches_the_per_row_reference(seed):
    gen = torch.Generator().manual_seed(seed)
    vocab, num_rows = 3000, 24
    logits = torch.randn(num_rows, vocab, generator=gen) * 3  # [R, V]
    choices = [
        SamplingParams(temperature=1.0),
        SamplingParams(temperature=0.7, top_k=40),
        SamplingParams(temperature=1.3, top_p=0.9),
        SamplingParams(temperature=1.0, top_p=0.5, top_k=500),
        SamplingParams(temperature=0.9, min_p=0.05),
        SamplingParams(temperature=1.0, logit_bias={5: 4.0, 17: -3.0}, frequency_penalty=0.5,
                       presence_penalty=0.3),
        SamplingParams(temperature=0.0, presence_penalty=1.0),
        SamplingParams(temperature=0.0),
    ]
    rows = []
    for i in range(num_rows):
        outputs = tuple(torch.randint(0, vocab, (5,), generator=gen).tolist())
        rows.append(row(choices[i % len(choices)], seed=1000 * seed + i, position=i * 7, outputs=outputs))
    got = [t.token_id for t in sample(logits, rows)]
    assert got == [reference_row(logits[i], rows[i]) for i in range(num_rows)]
