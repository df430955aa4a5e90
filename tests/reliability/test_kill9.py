"""kill -9 during Responses writes loses nothing a client was told about (issue 19, item 7).

A server process (the Responses harness on a SQLite file) takes 12 concurrent `store=true`
writers, half streaming; it is killed with SIGKILL mid-way, three times, and restarted on the same
file each time. Every response a client saw complete (the whole JSON answer, or the
`response.completed` event) must come back from GET after the restart with the same output, the
file must pass `PRAGMA integrity_check`, and nothing may be left `in_progress`.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server.responses_harness import serve

pytestmark = pytest.mark.slow

NUM_WRITERS = 12
NUM_KILLS = 3
MODEL = "gpt-oss-20b"


class Writer(threading.Thread):
    """Stores responses one after another until the server dies; keeps those it saw complete."""

    def __init__(self, base_url: str, index: int, seen: dict[str, list], lock: threading.Lock) -> None:
        super().__init__(daemon=True, name=f"writer-{index}")
        self.base_url = base_url
        self.index = index
        self.streamed = index % 2 == 1
        self.seen = seen
        self.lock = lock
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            for turn in range(10_000):  # bounded; the kill or `stop` ends it long before
                if self.stop.is_set():
                    return
                body = {"model": MODEL, "input": f"writer {self.index} turn {turn}", "store": True}
                try:
                    response = self._stream(client, body) if self.streamed else self._create(client, body)
                except (httpx.HTTPError, json.JSONDecodeError):
                    return  # the server was killed under this request: it was never acknowledged
                if response is not None:
                    with self.lock:
                        self.seen[response["id"]] = response["output"]

    def _create(self, client: httpx.Client, body: dict) -> dict | None:
        answer = client.post("/responses", json=body)
        answer.raise_for_status()
        response = answer.json()
        return response if response["status"] == "completed" else None

    def _stream(self, client: httpx.Client, body: dict) -> dict | None:
        with client.stream("POST", "/responses", json={**body, "stream": True}) as answer:
            answer.raise_for_status()
            for line in answer.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    if event["type"] == "response.completed":
                        return event["response"]  # what the client is told: stored before this event
        return None


def check_retrievable(base_url: str, seen: dict[str, list]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for response_id, output in seen.items():
            answer = client.get(f"/responses/{response_id}")
            assert answer.status_code == 200, (response_id, answer.text[:300])
            stored = answer.json()
            assert stored["status"] == "completed" and stored["output"] == output, response_id


def write_then_kill(base_url: str, process, seen: dict[str, list], rng: random.Random) -> int:
    """Run the writers until a random moment after the first completions, then SIGKILL the server."""
    lock = threading.Lock()
    fresh: dict[str, list] = {}
    writers = [Writer(base_url, i, fresh, lock) for i in range(NUM_WRITERS)]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + 60
    while len(fresh) < NUM_WRITERS and time.monotonic() < deadline:  # every writer under way
        time.sleep(0.05)
    time.sleep(rng.uniform(0.3, 1.5))
    process.kill()  # SIGKILL: no shutdown, no flush, whatever was in flight
    process.wait()
    for writer in writers:
        writer.stop.set()
        writer.join(timeout=30)
    assert not any(writer.is_alive() for writer in writers)
    with lock:
        seen.update(fresh)
        return len(fresh)


def test_every_acknowledged_response_survives_kill_9(tmp_path: Path):
    store = tmp_path / "responses.sqlite3"
    rng = random.Random(19)
    seen: dict[str, list] = {}
    counts = []
    for _ in range(NUM_KILLS):
        with serve(store, timeout_s=60) as server:
            check_retrievable(server.base_url, seen)  # what earlier rounds were told, after their kill
            counts.append(write_then_kill(server.base_url, server.process, seen, rng))
    with serve(store, timeout_s=60) as server:
        check_retrievable(server.base_url, seen)
        after = {"model": MODEL, "input": "after", "store": True}
        assert httpx.post(server.base_url + "/responses", json=after, timeout=30).is_success  # still writable
    assert all(count >= NUM_WRITERS for count in counts), counts
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        unfinished = "SELECT COUNT(*) FROM responses WHERE status IN ('queued', 'in_progress')"
        assert db.execute(unfinished).fetchone() == (0,)
