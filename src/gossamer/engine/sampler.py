"""Turn a step's logits into next tokens, the whole batch at once.

Every row is one position to sample: a sequence's next token, or (speculative decoding) the
token after one of its draft tokens. The rows go through, as tensor operations on [R, V]:
an optional allowed-token bitmask (the seam for grammar-constrained decoding), logit bias,
presence/frequency penalties, then per row either the argmax (greedy) or temperature, top-k (a
partial selection), top-p (the smallest top set reaching p, found by growing a partial
selection: no full-vocabulary sort), min-p, and a draw by inverse CDF.

The draw takes one uniform number per row from a counter-based generator: a hash of the
sequence's seed and the output position being sampled (as JAX's and Philox's keyed streams do).
So the token drawn at a position depends only on its logits and (seed, position): not on the
batch, not on how many numbers other rows drew, and not on whether the token arrived as a draft
to verify (speculative decoding accepts a draft exactly when this draw produces it, which keeps
the sampled distribution and makes seeded output the same with speculation on or off).

Reported logprobs are those of the model's raw distribution (before bias, penalties,
temperature and truncation), as vLLM reports them by default.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from gossamer.engine.protocol import SamplingParams, TokenLogprob

# Below this temperature sampling is greedy (dividing by ~0 would overflow).
_GREEDY_TEMPERATURE = 1e-5
# top-p first looks at this many of the best tokens and grows the selection 4x until it holds p.
_TOP_P_FIRST_K = 64
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class SamplingRow:
    """What sampling one position needs: the request's controls and the row's own state."""

    params: SamplingParams
    seed: int  # the sequence's seed: with `position`, the key of this row's random number
    position: int  # which output token this row samples (0 = the first generated token)
    output_counts: Counter[int] | None = None  # tokens generated before this position (penalties)
    # Tokens allowed here, as llguidance/xgrammar write them: int32 [ceil(V / 32)], bit t % 32 of
    # word t // 32 set when token t is allowed. None: all tokens.
    allowed_bitmask: torch.Tensor | None = None


@dataclass(frozen=True)
class SampledToken:
    token_id: int
    logprob: TokenLogprob | None


def is_greedy(params: SamplingParams) -> bool:
    return params.temperature < _GREEDY_TEMPERATURE


def uniform(seed: int, position: int) -> float:
    """A uniform number in [0, 1) keyed by (seed, position): splitmix64 over the pair."""
    z = (seed * 0x9E3779B97F4A7C15 + (position + 1) * 0xD1B54A32D192ED03) & _MASK64
    for _ in range(2):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        z ^= z >> 31
    return (z >> 11) * 2.0**-53


def apply_token_bitmask(logits: torch.Tensor, bitmask: torch.Tensor) -> torch.Tensor:
    """logits [R, V] and bitmask int32 [R, ceil(V / 32)] (on the CPU, where grammars write it) ->
    logits with disallowed tokens at -inf.

    The bits are unpacked by numpy (little-endian words: byte k of a row holds tokens 8k..8k+7):
    torch's broadcast shift over [R, V / 32, 32] took 45 ms for one 201k-token row on the 2-core
    host, unpackbits 0.02 ms, the whole mask with torch.where 0.5 ms."""
    vocab = logits.shape[1]
    packed = bitmask.cpu().contiguous().numpy().view(np.uint8)  # [R, 4 * ceil(V / 32)]
    allowed = np.unpackbits(packed, axis=1, bitorder="little")[:, :vocab].view(np.bool_)  # [R, V]
    return torch.where(torch.from_numpy(allowed).to(logits.device), logits, float("-inf"))


def sample(logits: torch.Tensor, rows: list[SamplingRow]) -> list[SampledToken]:
    """logits: [R, vocab] float32, row i sampled as rows[i] says."""
    num_rows = logits.shape[0]
    assert logits.dim() == 2 and num_rows == len(rows), (logits.shape, len(rows))
    if all(_plain_greedy(row) for row in rows):
        # max's indices are argmax's (the first best on ties) at a third of the time over 201k logits
        return [SampledToken(int(t), None) for t in logits.max(dim=-1).indices.tolist()]  # fast path: [R]
    x = _processed_logits(logits, rows)  # [R, V]
    tokens = x.max(dim=-1).indices  # [R] argmax; greedy rows keep it
    drawn = [i for i, row in enumerate(rows) if not is_greedy(row.params)]
    if drawn:
        tokens[drawn] = _draw(x[drawn], [rows[i] for i in drawn])
    token_ids = tokens.tolist()
    logprobs: list[TokenLogprob | None] = [None] * num_rows
    wanted = [i for i, row in enumerate(rows) if row.params.logprobs is not None]
    if wanted:
        raw = torch.log_softmax(logits[wanted], dim=-1)  # [W, V]
        most = max(rows[i].params.logprobs or 0 for i in wanted)
        top_values, top_ids = raw.topk(most, dim=-1) if most else (raw[:, :0], raw[:, :0].long())  # [W, most]
        for j, i in enumerate(wanted):
            k = rows[i].params.logprobs or 0
            top = tuple(zip(top_ids[j, :k].tolist(), top_values[j, :k].tolist(), strict=True))
            logprobs[i] = TokenLogprob(token_ids[i], float(raw[j, token_ids[i]]), top)
    return [SampledToken(t, lp) for t, lp in zip(token_ids, logprobs, strict=True)]


def _plain_greedy(row: SamplingRow) -> bool:
    params = row.params
    return (is_greedy(params) and not params.logit_bias and params.logprobs is None
            and row.allowed_bitmask is None and not params.presence_penalty and not params.frequency_penalty)


def _processed_logits(logits: torch.Tensor, rows: list[SamplingRow]) -> torch.Tensor:
    """The allowed-token mask, logit bias and penalties applied: [R, V]."""
    masked = [i for i, row in enumerate(rows) if row.allowed_bitmask is not None]
    if masked and len(masked) == len(rows):  # every row constrained: the mask's output is the copy
        x = apply_token_bitmask(logits, torch.stack([row.allowed_bitmask for row in rows]))  # type: ignore[misc]
    else:
        x = logits.clone()  # [R, V]
        if masked:
            bitmask = torch.stack([rows[i].allowed_bitmask for i in masked])  # type: ignore[misc]
            x[masked] = apply_token_bitmask(x[masked], bitmask)
    # Sparse per-row additions, gathered into one index_put: (row, token) -> delta.
    row_idx: list[int] = []
    token_idx: list[int] = []
    deltas: list[float] = []
    for i, row in enumerate(rows):
        params = row.params
        for token_id, bias in params.logit_bias.items():
            row_idx.append(i)
            token_idx.append(token_id)
            deltas.append(bias)
        if (params.presence_penalty or params.frequency_penalty) and row.output_counts:
            # OpenAI's definition: logit -= count * frequency_penalty + (count > 0) * presence_penalty
            for token_id, count in row.output_counts.items():
                row_idx.append(i)
                token_idx.append(token_id)
                deltas.append(-(count * params.frequency_penalty + params.presence_penalty))
    if deltas:
        index = (torch.tensor(row_idx, device=x.device), torch.tensor(token_idx, device=x.device))
        x.index_put_(index, torch.tensor(deltas, dtype=x.dtype, device=x.device), accumulate=True)
    return x


def _draw(x: torch.Tensor, rows: list[SamplingRow]) -> torch.Tensor:
    """Sample one token per row of processed logits x [R, V] -> [R] long."""
    vocab = x.shape[1]
    device = x.device
    temperature = torch.tensor([row.params.temperature for row in rows], dtype=x.dtype, device=device)
    x = x / temperature[:, None]  # [R, V]
    top_k = [row.params.top_k if row.params.top_k is not None and row.params.top_k < vocab else None
             for row in rows]
    limited = [i for i, k in enumerate(top_k) if k is not None]
    if limited:
        ks = torch.tensor([top_k[i] for i in limited], device=device)  # [L]
        best = x[limited].topk(int(ks.max()), dim=-1).values  # [L, k_max], best first
        kth = best.gather(1, (ks - 1)[:, None])  # [L, 1]
        x[limited] = x[limited].masked_fill(x[limited] < kth, float("-inf"))
    probs = torch.softmax(x, dim=-1)  # [R, V]
    nucleus = [i for i, row in enumerate(rows) if row.params.top_p < 1.0]
    if nucleus:
        top_p = torch.tensor([rows[i].params.top_p for i in nucleus], dtype=probs.dtype, device=device)
        floor = _top_p_floor(probs[nucleus], top_p)  # [P, 1]
        probs[nucleus] = probs[nucleus].masked_fill(probs[nucleus] < floor, 0.0)
    min_p = torch.tensor([row.params.min_p for row in rows], dtype=probs.dtype, device=device)  # [R]
    if bool((min_p > 0).any()):
        probs = probs.masked_fill(probs < (min_p * probs.max(dim=-1).values)[:, None], 0.0)
    # Inverse CDF in float64 (a float32 running sum over 201k tokens loses the tail's resolution).
    cdf = probs.cumsum(dim=-1, dtype=torch.float64)  # [R, V]
    u = torch.tensor([uniform(row.seed, row.position) for row in rows], dtype=torch.float64, device=device)
    target = (u * cdf[:, -1])[:, None]  # [R, 1]
    return torch.searchsorted(cdf, target, right=True).clamp_(max=vocab - 1)[:, 0]  # [R]


def _top_p_floor(probs: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """The smallest probability top-p keeps, per row of probs [P, V]: [P, 1].

    A token is kept while the mass of the tokens before it (best first) is below p. The best k
    tokens are selected (partially) and k grows until every row's kept set ends inside them."""
    vocab = probs.shape[1]
    k = min(_TOP_P_FIRST_K, vocab)
    while True:
        best = probs.topk(k, dim=-1).values  # [P, k], best first
        kept = (best.cumsum(dim=-1) - best) < top_p[:, None]  # [P, k]
        if k == vocab or not bool(kept[:, -1].any()):
            break
        k = min(4 * k, vocab)
    last = kept.sum(dim=-1, keepdim=True) - 1  # [P, 1]; the best token is always kept
    return best.gather(1, last.clamp(min=0))
