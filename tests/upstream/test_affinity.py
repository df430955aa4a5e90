"""Prefix affinity and load balancing, without servers: which replica a prompt is sent to, and why."""

from __future__ import annotations

from gossamer.engine.block_manager import chain_hashes as engine_chain_hashes
from gossamer.upstream.affinity import PrefixIndex
from gossamer.upstream.balancer import Balancer
from gossamer.upstream.config import FleetConfig, UpstreamSpec
from gossamer.upstream.replica import Replica, ReplicaState

SYSTEM = list(range(1000, 1000 + 80))  # a shared system prompt: five full blocks


def replicas(n: int = 3) -> list[Replica]:
    return [Replica(UpstreamSpec(f"http://r{i}:8000"), state=ReplicaState.UP) for i in range(n)]


def balancer(**knobs) -> Balancer:
    return Balancer(FleetConfig((UpstreamSpec("http://r0:8000"),), **knobs))


def test_blocks_are_named_as_the_prefix_cache_names_them():
    index = PrefixIndex()
    prompt = list(range(50, 90))
    assert index.block_names(prompt) == engine_chain_hashes(prompt, 16, 2, [])


def test_the_next_turn_of_a_conversation_goes_where_the_last_one_went():
    index = PrefixIndex()
    turn1 = [*SYSTEM, 7, 8, 9]  # its own words sit in the partial last block
    index.record(turn1, index.block_names(turn1), "r1")
    turn2 = [*turn1, *range(2000, 2040)]  # the whole first prompt, then the reply and a new question
    match = index.lookup(turn2, index.block_names(turn2))
    assert match.holders == ("r1",) and match.continuation and match.num_tokens == len(turn1)
    index.record(turn2, index.block_names(turn2), "r1")
    turn3 = [*turn2, 5, 5]
    assert index.lookup(turn3, index.block_names(turn3)).holders == ("r1",)


def test_another_conversation_on_the_same_system_prompt_is_not_drawn_to_it():
    index = PrefixIndex()
    first = [*SYSTEM, 7, 8, 9]
    index.record(first, index.block_names(first), "r1")
    other = [*SYSTEM, 7, 8, 4, *range(3000, 3020)]  # differs inside the tail the first one recorded
    match = index.lookup(other, index.block_names(other))
    assert match.holders == () and not match.continuation


def test_a_long_shared_prefix_draws_new_prompts_to_its_holders():
    index = PrefixIndex(min_shared_tokens=64)
    document = list(range(5000, 5000 + 160))  # ten blocks, above min_shared_tokens
    first = [*document, 1, 2, 3]
    index.record(first, index.block_names(first), "r2")
    second = [*document, 9, 9, 9, *range(6000, 6020)]
    match = index.lookup(second, index.block_names(second))
    assert match.holders == ("r2",) and not match.continuation and match.num_tokens == 160


def test_index_memory_is_bounded_and_a_restarted_replica_is_forgotten():
    index = PrefixIndex(capacity=8)
    for i in range(10):
        prompt = [i] * 64
        index.record(prompt, index.block_names(prompt), "r0")
    assert len(index) <= 8
    recent = [9] * 64
    assert index.lookup([*recent, 1], index.block_names([*recent, 1])).holders == ("r0",)
    index.forget("r0")
    assert index.lookup([*recent, 1], index.block_names([*recent, 1])).holders == ()


def test_an_idle_fleet_takes_new_conversations_in_turn():
    fleet = replicas()
    pick = balancer()
    labels = [pick.choose(PrefixIndex().lookup([1], []), fleet).replica.label for _ in range(30)]
    assert {labels.count(r.label) for r in fleet} == {10}


def test_the_least_outstanding_tokens_win_and_a_busy_holder_is_passed_over():
    fleet = replicas()
    fleet[0].outstanding_tokens, fleet[1].outstanding_tokens, fleet[2].outstanding_tokens = 9000, 500, 100
    pick = balancer(balance_abs_tokens=4096, balance_rel=2.0)
    index = PrefixIndex()
    prompt = [*SYSTEM, 1]
    index.record(prompt, index.block_names(prompt), fleet[0].label)
    turn2 = [*prompt, 2, 3]
    choice = pick.choose(index.lookup(turn2, index.block_names(turn2)), fleet)
    assert choice.replica is fleet[2] and choice.passed_over and not choice.affinity
    fleet[0].outstanding_tokens = 3000  # busier, but within the thresholds: the cache is worth it
    choice = pick.choose(index.lookup(turn2, index.block_names(turn2)), fleet)
    assert choice.replica is fleet[0] and choice.affinity


def test_load_tickets_count_prompt_and_expected_output_down_to_zero():
    replica = replicas(1)[0]
    ticket = replica.begin(100, 50)
    assert (replica.outstanding_tokens, replica.num_in_flight) == (150, 1)
    ticket.progress(20)
    assert replica.outstanding_tokens == 130
    ticket.progress(1000)  # more output than expected: the prompt's share is all that is left
    assert replica.outstanding_tokens == 0
    ticket.end()
    assert (replica.outstanding_tokens, replica.num_in_flight) == (0, 0)
