"""Speculative decoding by prompt lookup: output is unchanged whatever the drafts, the proposer
finds continuations and backs off, and the accounting reaches the stats."""

from __future__ import annotations

import pytest

from gossamer.engine.prompt_lookup import PromptLookup, best_draft_length
from gossamer.engine.protocol import SamplingParams
from gossamer.engine.sequence import Sequence
from tests.engine.conftest import prompts, run_to_completion

GREEDY = SamplingParams(temperature=0.0, max_tokens=24)


def _seq(tokens: list[int]) -> Sequence:
    return Sequence(0, "r", 0, list(tokens), len(tokens), GREEDY, 100)


def test_lookup_proposes_what_followed_the_latest_match():
    lookup = PromptLookup(num_draft_tokens=3, min_ngram=2, max_ngram=3, row_cost=0.0)
    seq = _seq([1, 2, 3, 4, 5, 9, 2, 3, 7, 8, 6, 2, 3])
    assert lookup.propose(seq, 10) == (7, 8, 6)  # "2 3" last seen before "7 8 6"
    assert lookup.propose(seq, 2) == (7, 8)
    seq.append_token(99)
    assert lookup.propose(seq, 10) == ()  # "3 99" never seen
    seq.append_token(4)
    assert lookup.propose(seq, 10) == ()
    seq.token_ids += [1, 2]
    assert lookup.propose(seq, 10) == (3, 4, 5)  # "4 1 2" is not there, "1 2" is


def test_draft_length_weighs_acceptance_against_row_cost():
    assert best_draft_length(0.9, 0.3, 8) >= 4
    assert best_draft_length(0.5, 0.3, 8) == 1
    assert best_draft_length(0.25, 0.3, 8) == 0  # no length beats plain decoding
    assert best_draft_length(0.25, 0.0, 8) == 8  # rows for free: draft all


def test_lookup_shortens_then_stops_then_probes_again():
    lookup = PromptLookup(num_draft_tokens=4, min_ngram=1, max_ngram=2, row_cost=0.3)
    seq = _seq([5, 6, 7, 8, 9] * 3 + [5])
    first = lookup.propose(seq, 10)
    assert 1 <= len(first) < 4  # a prior of 0.7: a short draft first
    for _ in range(4):
        lookup.record(seq, 4, 4)  # everything accepted: longer drafts
    assert len(lookup.propose(seq, 10)) == 4
    for _ in range(12):
        lookup.record(seq, 1, 0)  # nothing accepted any more: drafting stops
    assert lookup.propose(seq, 10) == ()
    seq.append_token(6)
    assert lookup.propose(seq, 10) == ()  # paused for 2 tokens
    seq.append_token(7)
    assert lookup.propose(seq, 10) == (8,)  # then a one-token probe


def _oracle(engine, want: dict[str, list[int]], wrong: bool = False) -> None:
    """Replace the lookup by drafts of the known output (or of tokens that are certainly wrong)."""

    def propose(seq, room):
        done = seq.num_output_tokens
        drafts = want[seq.request_id][done : done + min(room, 3)]
        return tuple((t + 1) % 512 for t in drafts) if wrong else tuple(drafts)

    engine.lookup.propose = propose


@pytest.mark.parametrize("wrong", [False, True])
def test_greedy_output_is_the_same_whatever_the_drafts(make_engine, wrong):
    batch = prompts([5, 17, 40, 9])
    plain = make_engine(speculative=False)
    for i, p in enumerate(batch):
        plain.add_request(str(i), p, GREEDY)
    want = run_to_completion(plain)
    engine = make_engine()
    _oracle(engine, want, wrong)
    for i, p in enumerate(batch):
        engine.add_request(str(i), p, GREEDY)
    assert run_to_completion(engine) == want
    stats = engine.stats()
    assert stats.num_draft_tokens > 30
    if wrong:
        assert stats.num_accepted_draft_tokens == 0
    else:  # every draft is right; the steps needed shrink accordingly
        assert stats.num_accepted_draft_tokens == stats.num_draft_tokens


def test_seeded_sampling_is_the_same_with_and_without_speculation(make_engine):
    params = [SamplingParams(temperature=1.0, top_p=0.9, seed=s, max_tokens=24, presence_penalty=0.5)
              for s in range(3)]
    batch = prompts([12, 30, 7], seed=4)
    plain = make_engine(speculative=False)
    for i, (p, sp) in enumerate(zip(batch, params, strict=True)):
        plain.add_request(str(i), p, sp)
    want = run_to_completion(plain)
    for wrong in (False, True):
        engine = make_engine()
        _oracle(engine, want, wrong)
        for i, (p, sp) in enumerate(zip(batch, params, strict=True)):
            engine.add_request(str(i), p, sp)
        assert run_to_completion(engine) == want
        assert (engine.stats().num_accepted_draft_tokens > 0) != wrong


def test_a_stop_token_inside_the_accepted_drafts_ends_the_sequence(make_engine):
    prompt = prompts([20])[0]
    plain = make_engine(speculative=False)
    plain.add_request("a", prompt, GREEDY)
    full = run_to_completion(plain)["a"]
    stop = full[5]
    params = SamplingParams(temperature=0.0, max_tokens=24, stop_token_ids=(stop,))
    engine = make_engine()
    _oracle(engine, {"a": full})
    engine.add_request("a", prompt, params)
    assert run_to_completion(engine)["a"] == full[: full.index(stop) + 1]


def test_a_request_can_turn_speculation_off(make_engine):
    engine = make_engine()
    engine.lookup.propose = lambda seq, room: (1,)
    prompt = prompts([10])[0]
    engine.add_request("a", prompt, SamplingParams(temperature=0.0, max_tokens=12, speculative=False))
    run_to_completion(engine)
    assert engine.stats().num_draft_tokens == 0
    engine.add_request("b", prompt, SamplingParams(temperature=0.0, max_tokens=12))
    run_to_completion(engine)
    assert engine.stats().num_draft_tokens == 11  # one per step after the first token
