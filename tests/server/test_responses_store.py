"""The SQLite response store: chains, item lookup, pagination, concurrency, a second process."""

from __future__ import annotations

import threading
import time

import pytest

from gossamer.server.responses.items import new_id, user_text_message
from gossamer.server.responses.store import ChainBroken, ResponseStore, default_store_path


def _response(previous: str | None = None, status: str = "completed", output: list | None = None) -> dict:
    return {
        "id": new_id("resp"),
        "created_at": int(time.time()),
        "status": status,
        "previous_response_id": previous,
        "output": output or [],
    }


def _call(call_id: str) -> dict:
    return {"type": "function_call", "id": new_id("fc"), "call_id": call_id, "name": "f", "arguments": "{}"}


def test_default_path_follows_gossamer_home(monkeypatch, tmp_path):
    monkeypatch.setenv("GOSSAMER_HOME", str(tmp_path))
    assert default_store_path() == tmp_path / "responses.sqlite3"


def test_chain_rebuilds_inputs_and_outputs_in_order(tmp_path):
    store = ResponseStore(tmp_path / "r.sqlite3")
    first_in = [user_text_message("hi")]
    reasoning = {"type": "reasoning", "id": new_id("rs"), "summary": [], "content": []}
    first = _response(output=[reasoning, _call("call_1")])
    store.save(first, first_in)
    second_in = [{"type": "function_call_output", "id": new_id("fco"), "call_id": "call_1", "output": "42"}]
    second = _response(previous=first["id"], output=[{"type": "message", "id": new_id("msg")}])
    store.save(second, second_in)

    items = store.conversation(second["id"])
    assert [i["type"] for i in items] == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert items[0] == first_in[0]
    assert store.get_item(reasoning["id"]) == reasoning


def test_broken_chain_names_the_missing_response(tmp_path):
    store = ResponseStore(tmp_path / "r.sqlite3")
    first = _response()
    store.save(first, [user_text_message("a")])
    second = _response(previous=first["id"])
    store.save(second, [user_text_message("b")])
    assert store.delete(first["id"])
    assert not store.delete(first["id"])
    with pytest.raises(ChainBroken) as info:
        store.conversation(second["id"])
    assert info.value.response_id == first["id"]
    assert store.get(first["id"]) is None


def test_survives_reopening_and_fails_interrupted_work(tmp_path):
    path = tmp_path / "r.sqlite3"
    store = ResponseStore(path)
    done, running = _response(), _response(status="in_progress")
    store.save(done, [user_text_message("x")])
    store.save(running, [user_text_message("y")])
    store.close()

    reopened = ResponseStore(path)
    assert reopened.get(done["id"]) == done
    assert reopened.fail_interrupted() == 1
    failed = reopened.get(running["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"


def test_input_item_pages_follow_openai_cursors():
    store = ResponseStore(":memory:")
    items = [user_text_message(str(i)) for i in range(5)]
    response = _response()
    store.save(response, items)
    ids = [i["id"] for i in items]

    page, more = store.input_items(response["id"], limit=2, order="asc")
    assert [i["id"] for i in page] == ids[:2] and more
    page, more = store.input_items(response["id"], limit=2, order="asc", after=ids[1])
    assert [i["id"] for i in page] == ids[2:4] and more
    page, more = store.input_items(response["id"], limit=10, order="desc")
    assert [i["id"] for i in page] == ids[::-1] and not more
    page, more = store.input_items(response["id"], limit=10, order="desc", before=ids[1])
    assert [i["id"] for i in page] == ids[:1:-1] and not more


def test_concurrent_writers_and_readers(tmp_path):
    store = ResponseStore(tmp_path / "r.sqlite3")
    errors: list[BaseException] = []
    saved: list[str] = []

    def work() -> None:
        try:
            for _ in range(30):
                response = _response(output=[_call("c")])
                store.save(response, [user_text_message("q")])
                saved.append(response["id"])
                assert store.conversation(response["id"])[1]["type"] == "function_call"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(saved) == 180
    assert all(store.get(rid) is not None for rid in saved)
