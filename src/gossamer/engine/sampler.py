"""Turn the logits of the sampled positions into next tokens, one row per sequence.

Rows are processed one by one: each sequence has its own parameters and its own torch.Generator,
so a seeded sequence draws the same random numbers whatever else is in the batch. Reported
logprobs are those of the model's raw distribution (before bias, penalties, temperature and
truncation), as vLLM reports them by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gossamer.engine.protocol import SamplingParams, TokenLogprob
from gossamer.engine.sequence import Sequence

# Below this temperature sampling is greedy (dividing by ~0 would overflow).
_GREEDY_TEMPERATURE = 1e-5


@dataclass(frozen=True)
class SampledToken:
    token_id: int
    logprob: TokenLogprob | None


def is_greedy(params: SamplingParams) -> bool:
    return params.temperature < _GREEDY_TEMPERATURE


def _plain_greedy(params: SamplingParams) -> bool:
    return (is_greedy(params) and not params.logit_bias and params.logprobs is None
            and params.presence_penalty == 0 and params.frequency_penalty == 0)


def sample(logits: torch.Tensor, seqs: list[Sequence]) -> list[SampledToken]:
    """logits: [M, vocab] float32, row i for seqs[i]."""
    assert logits.dim() == 2 and logits.shape[0] == len(seqs), (logits.shape, len(seqs))
    if all(_plain_greedy(seq.params) for seq in seqs):
        return [SampledToken(int(t), None) for t in logits.argmax(dim=-1).tolist()]  # fast path: [M]
    return [_sample_row(logits[i], seq) for i, seq in enumerate(seqs)]


def _sample_row(row: torch.Tensor, seq: Sequence) -> SampledToken:
    params = seq.params
    raw_logprobs = torch.log_softmax(row, dim=-1) if params.logprobs is not None else None  # [V]
    row = row.clone()  # [V]
    if params.logit_bias:
        ids = torch.tensor(list(params.logit_bias.keys()), dtype=torch.long, device=row.device)
        row[ids] += torch.tensor(list(params.logit_bias.values()), dtype=row.dtype, device=row.device)
    if (params.presence_penalty or params.frequency_penalty) and seq.output_counts:
        ids = torch.tensor(list(seq.output_counts.keys()), dtype=torch.long, device=row.device)
        counts = torch.tensor(list(seq.output_counts.values()), dtype=row.dtype, device=row.device)
        # OpenAI's definition: logit -= count * frequency_penalty + (count > 0) * presence_penalty
        row[ids] -= counts * params.frequency_penalty + params.presence_penalty

    if is_greedy(params):
        token_id = int(row.argmax())
    else:
        row = _truncate(row / params.temperature, params)
        probs = torch.softmax(row, dim=-1)  # [V]
        token_id = int(torch.multinomial(probs, 1, generator=seq.generator))

    logprob = None
    if raw_logprobs is not None:
        top: tuple[tuple[int, float], ...] = ()
        if params.logprobs:
            values, ids = raw_logprobs.topk(params.logprobs)
            top = tuple(zip(ids.tolist(), values.tolist(), strict=True))
        logprob = TokenLogprob(token_id, float(raw_logprobs[token_id]), top)
    return SampledToken(token_id, logprob)


def _truncate(row: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Mask (to -inf) the tokens top_k, top_p and min_p exclude; row: [V] scaled logits."""
    if params.top_k is not None and params.top_k < row.shape[0]:
        kth = torch.topk(row, params.top_k).values[-1]
        row = row.masked_fill(row < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(row, descending=True)  # [V]
        probs = torch.softmax(sorted_logits, dim=-1)
        # Keep the smallest prefix whose mass reaches top_p: a token goes when the mass before it does.
        remove = (torch.cumsum(probs, dim=-1) - probs) >= params.top_p
        remove[0] = False
        row = row.clone()
        row[order[remove]] = float("-inf")
    if params.min_p > 0.0:
        probs = torch.softmax(row, dim=-1)
        row = row.masked_fill(probs < params.min_p * probs.max(), float("-inf"))
    return row
