"""Draft tokens by prompt lookup: speculative decoding that copies from the sequence itself.

When the last n tokens of a sequence (n from max_ngram down to min_ngram) appeared earlier, in
the prompt or in what it generated, the tokens that followed their latest earlier occurrence are
proposed as its next ones (Saxena's prompt lookup decoding, vLLM's "ngram" speculator). The
engine verifies them in one batched step: a single-stream decode reads all the weights for one
token, and a step of k + 1 rows costs little more, so every accepted draft is a token nearly
for free. It pays off where output copies input: editing code, quoting a document, rewriting.

It switches itself off where it does not: no match, no draft; and a sequence whose drafts keep
being rejected waits 2, 4, 8 ... up to 64 tokens before it proposes again (a rejected draft
costs its verification rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gossamer.engine.sequence import Sequence

_MAX_BACKOFF_TOKENS = 64


@dataclass
class _LookupState:
    index: dict[tuple[int, ...], int] = field(default_factory=dict)  # n-gram -> end of its latest occurrence
    num_indexed: int = 0  # n-grams ending at positions < num_indexed are in the index
    num_misses: int = 0  # drafts in a row with nothing accepted
    resume_at: int = 0  # propose again once the sequence has this many tokens


class PromptLookup:
    def __init__(self, num_draft_tokens: int, min_ngram: int, max_ngram: int) -> None:
        assert 1 <= min_ngram <= max_ngram and num_draft_tokens >= 1
        self.num_draft_tokens = num_draft_tokens
        self.min_ngram = min_ngram
        self.max_ngram = max_ngram
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
        limit = min(self.num_draft_tokens, max_tokens)
        if limit <= 0 or length < state.resume_at:
            return ()
        for n in range(min(self.max_ngram, length), self.min_ngram - 1, -1):
            end = state.index.get(tuple(tokens[length - n :]))
            if end is not None:
                return tuple(tokens[end : min(end + limit, length)])
        return ()

    def record(self, seq: Sequence, num_proposed: int, num_accepted: int) -> None:
        """The outcome of verifying a draft: back off after drafts that were wholly rejected."""
        state = self._states.get(seq.seq_id)
        if state is None or num_proposed == 0:
            return
        if num_accepted:
            state.num_misses = 0
            return
        state.num_misses += 1
        state.resume_at = seq.num_tokens + min(2**state.num_misses, _MAX_BACKOFF_TOKENS)

    def forget(self, seq: Sequence) -> None:
        self._states.pop(seq.seq_id, None)
