"""The engine's grammar seam (engine/masks.py): each constrained sequence's next token is drawn
only from what its constraint allows, the constraint sees every token it emits, neighbours in the
batch are untouched, and constrained sequences do not speculate. The constraint here is a plain
allowed set, so the seam is tested apart from any grammar library."""

from __future__ import annotations

import threading

import torch

from gossamer.engine.protocol import SamplingParams

ALLOWED = frozenset(range(10, 200, 3))


class SetConstraint:
    def __init__(self, log: list[SetConstraint]) -> None:
        self.accepted: list[int] = []
        self.mask_threads: set[str] = set()
        log.append(self)

    def fill_bitmask(self, row: torch.Tensor) -> None:
        self.mask_threads.add(threading.current_thread().name)
        allowed = torch.zeros(row.numel() * 32, dtype=torch.int64)
        allowed[sorted(ALLOWED)] = 1
        words = (allowed.view(-1, 32) << torch.arange(32)).sum(dim=1)  # [W], as unsigned 32-bit values
        row.copy_(((words + 2**31) % 2**32 - 2**31).to(torch.int32))  # the same bits as int32

    def accept(self, token_id: int) -> bool:
        self.accepted.append(token_id)
        return token_id in ALLOWED


class SetFactory:
    def __init__(self) -> None:
        self.made: list[SetConstraint] = []

    def new(self) -> SetConstraint:
        return SetConstraint(self.made)


def run(core) -> dict[str, dict[int, list[int]]]:
    out: dict[str, dict[int, list[int]]] = {}
    while core.has_unfinished():
        for o in core.step():
            out.setdefault(o.request_id, {}).setdefault(o.index, []).extend(o.token_ids)
    return out


def test_constrained_tokens_come_from_the_mask_and_advance_each_sequence(make_engine) -> None:
    factory = SetFactory()
    core = make_engine()
    params = SamplingParams(temperature=1.0, seed=3, max_tokens=12, n=2, constraint=factory)
    core.add_request("held", [1, 2, 3, 4, 5], params)
    out = run(core)["held"]
    assert len(factory.made) == 2  # one state per sequence (n = 2)
    for index, constraint in enumerate(factory.made):
        assert out[index] and set(out[index]) <= ALLOWED
        assert constraint.accepted == out[index]
        assert constraint.mask_threads == {"gossamer-masks_0"}  # filled beside the forward pass


def test_unconstrained_neighbours_are_untouched(make_engine) -> None:
    greedy = SamplingParams(temperature=0.0, max_tokens=10)
    alone = make_engine()
    alone.add_request("free", [7, 8, 9, 10], greedy)
    expected = run(alone)["free"][0]
    batched = make_engine()
    held = SamplingParams(temperature=0.0, max_tokens=10, constraint=SetFactory())
    batched.add_request("held", [1, 2, 3], held)
    batched.add_request("free", [7, 8, 9, 10], greedy)
    out = run(batched)
    assert out["free"][0] == expected
    assert set(out["held"][0]) <= ALLOWED


def test_constrained_sequences_do_not_speculate(make_engine) -> None:
    core = make_engine(speculative=True)
    # A repetitive prompt: prompt lookup would draft from it at once.
    prompt = [10, 13, 16, 19] * 6
    core.add_request("held", prompt, SamplingParams(temperature=0.0, max_tokens=16, constraint=SetFactory()))
    run(core)
    assert core.num_draft_tokens == 0
