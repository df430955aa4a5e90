"""Reasoning replay: the server's own tool-call reasoning comes back when a client drops it."""

from __future__ import annotations

import sqlite3

from gossamer.harmony.conversation import Conversation, Message, ToolCallItem
from gossamer.harmony.events import ToolCall
from gossamer.turn.replay import ReasoningReplay, history_digest
from gossamer.turn.replay_store import ReplayStore

QUESTION = [Message("system", "Be brief."), Message("user", "Weather in Paris?")]
CALL = ToolCall("call_abc", "get_weather", '{"city":"Paris"}')
REASONING = "The user wants the weather. I should call get_weather."


def replayed(store: ReplayStore, messages: list[Message], tenant: str = "") -> list[Message]:
    conv = Conversation(messages=messages)
    ReasoningReplay(store).restore(conv, tenant)
    return conv.messages


def dropped_turn(call_id: str = "call_abc", arguments: str = '{"city": "Paris"}') -> list[Message]:
    """What LangChain sends back: the assistant's call without its reasoning, then the result."""
    return [
        *QUESTION,
        Message("assistant", "", tool_calls=[ToolCallItem(call_id, "get_weather", arguments)]),
        Message("tool", '{"temperature": 18}', tool_call_id=call_id, name="get_weather"),
    ]


def remembered(store: ReplayStore, tenant: str = "") -> ReplayStore:
    ReasoningReplay(store).remember(history_digest(QUESTION), REASONING, [CALL], tenant)
    return store


def test_restored_by_call_id(tmp_path):
    store = remembered(ReplayStore(tmp_path / "s.sqlite3"))
    assert replayed(store, dropped_turn())[2].reasoning == REASONING


def test_restored_by_fingerprint_when_the_client_renews_ids(tmp_path):
    """Ollama's clients keep no call ids: the conversation and the call itself still identify the turn."""
    store = remembered(ReplayStore(tmp_path / "s.sqlite3"))
    messages = dropped_turn(call_id="call_new", arguments='{ "city" : "Paris" }')
    assert replayed(store, messages)[2].reasoning == REASONING
    other = [Message("user", "Weather in Rome?"), *dropped_turn(call_id="call_new")[2:]]
    assert replayed(store, other)[1].reasoning is None  # another conversation: not restored


def test_only_the_open_chain_and_only_what_is_missing(tmp_path):
    store = remembered(ReplayStore(tmp_path / "s.sqlite3"))
    finished = [*dropped_turn(), Message("assistant", "It is 18 degrees."), Message("user", "Thanks!")]
    assert replayed(store, finished)[2].reasoning is None  # harmony drops it after the answer anyway
    kept = dropped_turn()
    kept[2].reasoning = "the client's own"
    assert replayed(store, kept)[2].reasoning == "the client's own"


def test_tenants_do_not_see_each_other(tmp_path):
    store = remembered(ReplayStore(tmp_path / "s.sqlite3"), tenant="alice")
    assert replayed(store, dropped_turn(), tenant="bob")[2].reasoning is None
    assert replayed(store, dropped_turn(), tenant="alice")[2].reasoning == REASONING


def test_durable_in_the_responses_file_and_bounded_by_age(tmp_path):
    path = tmp_path / "responses.sqlite3"
    now = [1000.0]
    store = remembered(ReplayStore(path, max_age_s=60, clock=lambda: now[0]))
    store.close()
    reopened = ReplayStore(path, max_age_s=60, clock=lambda: now[0])  # a restarted server
    assert replayed(reopened, dropped_turn())[2].reasoning == REASONING
    now[0] += 61
    assert replayed(reopened, dropped_turn())[2].reasoning is None
    reopened.prune()
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM reasoning_replay").fetchone() == (0,)


def test_bounded_by_size_oldest_first(tmp_path):
    now = [0.0]
    store = ReplayStore(tmp_path / "s.sqlite3", max_bytes=3000, clock=lambda: now[0])
    for i in range(10):
        now[0] += 1
        store.remember([f"id:call_{i}"], "x" * 1000, "")
    store.prune()
    assert store.recall(["id:call_0"], "") is None
    assert store.recall(["id:call_9"], "") == "x" * 1000
    (total,) = sqlite3.connect(tmp_path / "s.sqlite3").execute(
        "SELECT SUM(LENGTH(reasoning)) FROM reasoning_replay"
    ).fetchone()
    assert total <= 3000
