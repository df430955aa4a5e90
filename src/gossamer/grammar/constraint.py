"""Per-sequence token constraints for the engine: a mask before each sampled token, then advance.

`HarmonyConstraint` follows one harmony reply (harmony.py's grammar) and adds the reasoning budget,
as llama.cpp's reasoning-budget sampler does: thought tokens (analysis and preamble bodies) are
counted; once the budget is spent, the mask lets only `<|end|>` through (as soon as the grammar
allows it: a split UTF-8 character completes first), and from the next message on the "tail"
grammar holds, which has no thoughts left: the answer or a call must come.

`RawConstraint` holds a plain completion (vLLM's structured_outputs) to its grammar and ends it
with `<|endoftext|>`, which the request's stop tokens include.

Both are built by a factory held in `SamplingParams.constraint`: one constraint per sequence
(n > 1), created when the engine admits the request. Masks are written by llguidance into the
sampler's int32 bitmask row (bit t % 32 of word t // 32), with the GIL released.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from gossamer.grammar.compile import GrammarCache, GrammarCompileError, grammar_cache
from gossamer.harmony.header import Kind, parse_header
from gossamer.harmony.tokenizer import TokenTable, token_table

logger = logging.getLogger(__name__)

_THOUGHT_KINDS = (Kind.REASONING, Kind.PREAMBLE)


@dataclass(frozen=True)
class HarmonyGrammars:
    full: str  # thoughts, then the ending
    direct: str  # the ending at once (no thoughts allowed: a zero budget)
    tail: str  # after a spent budget: `<|start|>assistant` and the ending


class HarmonyConstraintFactory:
    def __init__(
        self,
        grammars: HarmonyGrammars,
        prefill_ids: tuple[int, ...],
        reasoning_budget: int | None,
        cache: GrammarCache | None = None,
    ) -> None:
        self.grammars = grammars
        self.prefill_ids = prefill_ids  # the reply's tokens in the prompt after <|start|>
        self.reasoning_budget = reasoning_budget  # None: unlimited
        self.cache = cache or grammar_cache()

    def new(self) -> HarmonyConstraint:
        return HarmonyConstraint(self)


class _MessageTracker:
    """Where in harmony's message structure a reply is: enough to count thought tokens."""

    def __init__(self, table: TokenTable) -> None:
        self.table = table
        self.header = bytearray()
        self.in_header = True  # the reply starts inside the header opened by the prompt's <|start|>
        self.in_thought = False
        self.num_thought_tokens = 0

    def step(self, token_id: int) -> None:
        name = self.table.special_names.get(token_id)
        if name == "<|start|>":
            self.in_header, self.in_thought = True, False
            self.header.clear()
        elif name == "<|message|>":
            kind = parse_header(self.header.decode("utf-8", errors="replace")).kind
            self.in_header, self.in_thought = False, kind in _THOUGHT_KINDS
        elif name in ("<|end|>", "<|return|>", "<|call|>"):
            self.in_header = self.in_thought = False
        elif self.in_header:
            data = self.table.token_bytes[token_id] if 0 <= token_id < len(self.table.token_bytes) else None
            self.header += data if data is not None else (name or "").encode()
        elif self.in_thought:
            self.num_thought_tokens += 1


class HarmonyConstraint:
    def __init__(self, factory: HarmonyConstraintFactory) -> None:
        self.factory = factory
        table = token_table()
        self.end_id = table.special_ids["<|end|>"]
        budget = factory.reasoning_budget
        grammar = factory.grammars.direct if budget == 0 else factory.grammars.full
        self.matcher = factory.cache.matcher(grammar)
        self.tracker = _MessageTracker(table)
        self.in_tail = budget == 0
        self.failed = False
        for token_id in factory.prefill_ids:
            self.matcher.consume_token(token_id)
            self.tracker.step(token_id)
        self._check("the prompt's prefill")

    @property
    def budget_spent(self) -> bool:
        budget = self.factory.reasoning_budget
        return budget is not None and self.tracker.num_thought_tokens >= budget

    def fill_bitmask(self, row: torch.Tensor) -> None:
        """Write the allowed next tokens into row: int32 [ceil(V / 32)], contiguous, on the CPU."""
        if self.failed:
            row.fill_(-1)
            return
        self.matcher.unsafe_compute_mask_ptr(row.data_ptr(), row.numel() * row.element_size())
        if self.tracker.in_thought and self.budget_spent and not self.in_tail:
            word, bit = divmod(self.end_id, 32)
            if (int(row[word]) >> bit) & 1:  # the grammar may end the thought here: it must
                row.zero_()
                row[word] = _int32(1 << bit)
        if not self._check("computing a mask"):
            row.fill_(-1)

    def accept(self, token_id: int) -> bool:
        """Advance past a sampled token; False if the grammar did not allow it (then unconstrained)."""
        if self.failed:
            return False
        self.matcher.consume_token(token_id)
        self.tracker.step(token_id)
        if token_id == self.end_id and self.budget_spent and not self.in_tail:
            self.in_tail = True
            try:
                self.matcher = self.factory.cache.matcher(self.factory.grammars.tail)
            except GrammarCompileError as exc:  # compiled from the same parts as `full`: not expected
                logger.error("the reply's tail grammar does not compile: %s", exc)
                self.failed = True
                return False
        return self._check(f"token {token_id}")

    def _check(self, what: str) -> bool:
        if self.matcher.is_error():
            # Never expected (the mask allowed the token); a sequence that got here goes on unconstrained
            # rather than sampling from an empty mask.
            logger.error("grammar constraint failed at %s: %s", what, self.matcher.get_error()[:500])
            self.failed = True
        return not self.failed


class RawConstraintFactory:
    def __init__(self, grammar: str, cache: GrammarCache | None = None) -> None:
        self.grammar = grammar
        self.cache = cache or grammar_cache()

    def new(self) -> RawConstraint:
        return RawConstraint(self.cache.matcher(self.grammar))


class RawConstraint:
    def __init__(self, matcher) -> None:
        self.matcher = matcher
        self.failed = False

    def fill_bitmask(self, row: torch.Tensor) -> None:
        if self.failed:
            row.fill_(-1)
            return
        self.matcher.unsafe_compute_mask_ptr(row.data_ptr(), row.numel() * row.element_size())

    def accept(self, token_id: int) -> bool:
        if self.failed:
            return False
        if not self.matcher.consume_token(token_id):
            logger.error("grammar constraint failed at token %d: %s", token_id,
                         self.matcher.get_error()[:500])
            self.failed = True
        return not self.failed


def _int32(value: int) -> int:
    """An unsigned 32-bit word as the int32 torch stores (bit 31 set is negative)."""
    return value - (1 << 32) if value >= 1 << 31 else value
