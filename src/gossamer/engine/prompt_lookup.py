"""Draft tokens by prompt lookup: speculative decoding that copies from the sequence itself.

When the last n tokens of a sequence (n from max_ngram down to min_ngram) appeared earlier, in
the prompt or in what it generated, the tokens that followed their latest earlier occurrence are
proposed as its next ones (Saxena's prompt lookup decoding, vLLM's "ngram" speculator). The
engine verifies them in one batched step: a single-stream decode reads all the weights for one
token, and a step of k + 1 rows reads the dense weights once for all of them, so each accepted
draft costs only its own experts. It pays off where output copies input: editing code, quoting
a document, rewriting text.

It switches itself off where it does not. No match, no draft. And the draft length follows each
sequence's record: with p the estimated chance that a draft token is accepted (given the ones
before it were) and c what one more row adds to a step (its experts, relative to a one-token
step), k drafts yield 1 + p + ... + p^k tokens for 1 + c k the cost; the best k is proposed, and
none when no k beats plain decoding (then the sequence probes again with one draft after 2, 4,
8 ... up to 64 tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gossamer.engine.sequence import Sequence

_MAX_BACKOFF_TOKENS = 64
# Weight of past outcomes against each new one in the acceptance estimate (a decaying count).
_DECAY = 0.8
# The estimate starts here, worth this many outcomes: a first match is worth trying.
_PRIOR_P, _PRIOR_WEIGHT = 0.7, 2.0


@dataclass
class _LookupState:
    index: dict[tuple[int, ...], int] = field(default_factory=dict)  # n-gram -> end of its latest occurrence
    num_indexed: int = 0  # n-grams ending at positions < num_indexed are in the index
    accepted: float = _PRIOR_P * _PRIOR_WEIGHT  # decayed count of accepted draft tokens
    rejected: float = (1 - _PRIOR_P) * _PRIOR_WEIGHT  # decayed count of drafts that stopped short
    num_off: int = 0  # times in a row no draft length paid off
    resume_at: int = 0  # propose again once the sequence has this many tokens

    @property
    def acceptance(self) -> float:
        return self.accepted / (self.accepted + self.rejected)


def best_draft_length(p: float, row_cost: float, max_drafts: int) -> int:
    """The k in 0..max_drafts maximizing (1 + p + ... + p^k) / (1 + row_cost * k)."""
    best_k, best_rate, gain = 0, 1.0, 1.0
    for k in range(1, max_drafts + 1):
        gain += p**k
        rate = gain / (1 + row_cost * k)
        if rate > best_rate:
            best_k, best_rate = k, rate
    return best_k


class PromptLookup:
    def __init__(self, num_draft_tokens: int, min_ngram: int, max_ngram: int, row_cost: float = 0.3) -> None:
        assert 1 <= min_ngram <= max_ngram and num_draft_tokens >= 1
        self.num_draft_tokens = num_draft_tokens
        self.min_ngram = min_ngram
        self.max_ngram = max_ngram
        self.row_cost = row_cost
        self._states: dict[int, _LookupState] = {}

    def propose(self, seq: Sequence, max_tokens: int) -> tuple[int, ...]:
        """Up to min(num_draft_tokens, max_tokens) tokens to try after seq's last one."""
        state = self._states.setdefault(seq.seq_id, _LookupState())
        tokens = seq.token_ids
        length = len(tokens)
        # Index every n-gram that ends before the last position (the last one is the query).
        for end in range(max(state.num_indexed, self.min_ngram), length):
            for n in range(self.min_ngram, min(self.max_ngram, end) + 1):
                state.index[tuple(tokens[end - n : end])] = end
        state.num_indexed = max(state.num_indexed, length)
        if length < state.resume_at:
            return ()
        limit = min(best_draft_length(state.acceptance, self.row_cost, self.num_draft_tokens), max_tokens)
        if limit <= 0:
            if max_tokens > 0:  # no length pays off now: wait, then probe with one draft
                state.num_off += 1
                state.resume_at = length + min(2**state.num_off, _MAX_BACKOFF_TOKENS)
                state.accepted, state.rejected = self._probe_counts()
            return ()
        for n in range(min(self.max_ngram, length), self.min_ngram - 1, -1):
            end = state.index.get(tuple(tokens[length - n :]))
            if end is not None:
                return tuple(tokens[end : min(end + limit, length)])
        return ()

    def record(self, seq: Sequence, num_proposed: int, num_accepted: int) -> None:
        """The outcome of verifying a draft of num_proposed tokens: num_accepted of them held."""
        state = self._states.get(seq.seq_id)
        if state is None or num_proposed == 0:
            return
        state.accepted = _DECAY * state.accepted + num_accepted
        state.rejected = _DECAY * state.rejected + (num_accepted < num_proposed)
        if num_accepted:
            state.num_off = 0

    def forget(self, seq: Sequence) -> None:
        self._states.pop(seq.seq_id, None)

    def _probe_counts(self) -> tuple[float, float]:
        """A neutral estimate for the probe after a pause: just enough for one draft to pay off."""
        p = 0.5
        while p < 1 and best_draft_length(p, self.row_cost, 1) < 1:
            p += 0.05
        return p, 1 - p
