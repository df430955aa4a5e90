"""64 concurrent streams whose clients vanish at random points (issue 19, item 7).

Chat Completions, Responses (stored) and Ollama streams, plus non-streamed requests, over the real
app and the scripted engine on 127.0.0.1. Each client leaves at a seeded point: before reading a
line, after a few events or many, or (non-streamed) after a random wait; a few stay to the end.
The streaming leavers read their lines, then all hang up at once while their answers are still
being generated. The engine must then run nothing within a second (the KV cache is free), no
answer may have been a 5xx, and every stored streamed response whose client left must be
retrievable as incomplete or completed.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import MODEL_NAME, LiveApp, gpt_oss_script, start_app

pytestmark = pytest.mark.slow

NUM_CLIENTS = 64
SEED = 19
LONG = "write a long story"  # ~400 words from the scripted engine: still running when clients leave
SETTLE_S = 1.0  # the bound: nothing running within a second of the hang-ups


@pytest.fixture(scope="module")
def app() -> Iterator[LiveApp]:
    engine = ScriptedEngine(gpt_oss_script, max_context_length=8192, tokens_per_step=2, step_delay_s=0.005)
    live = start_app(engine)
    yield live
    live.stop()


def request_for(kind: str, prompt: str) -> tuple[str, dict]:
    messages = [{"role": "user", "content": prompt}]
    if kind == "chat":
        return "/v1/chat/completions", {"model": MODEL_NAME, "messages": messages}
    if kind == "responses":
        return "/v1/responses", {"model": MODEL_NAME, "input": prompt, "store": True}
    return "/api/chat", {"model": MODEL_NAME, "messages": messages}


@dataclass
class Crowd:
    """The clients' shared record, and the moment the streaming leavers all hang up."""

    num_leavers: int
    statuses: list[int] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    left_responses: list[str] = field(default_factory=list)  # stored streams whose client hung up
    num_ready: int = 0
    all_ready: asyncio.Event = field(default_factory=asyncio.Event)
    hang_up: asyncio.Event = field(default_factory=asyncio.Event)

    def ready(self) -> None:
        self.num_ready += 1
        if self.num_ready == self.num_leavers:
            self.all_ready.set()

    async def stream(self, url: str, kind: str, prompt: str, num_lines: int | None) -> None:
        """Read `num_lines` lines (None: all), wait for the common hang-up, close the connection."""
        path, body = request_for(kind, prompt)
        response_id = None
        async with (
            httpx.AsyncClient(base_url=url, timeout=60) as client,
            client.stream("POST", path, json={**body, "stream": True}) as answer,
        ):
            self.statuses.append(answer.status_code)
            lines = answer.aiter_lines()
            for _ in range(num_lines if num_lines is not None else 1 << 30):
                line = await anext(lines, None)
                if line is None:
                    break
                self.bodies.append(line)
                if kind == "responses" and response_id is None and line.startswith("data: "):
                    response_id = json.loads(line[6:])["response"]["id"]
            if num_lines is not None:
                self.ready()
                await self.hang_up.wait()  # leaving the block drops the connection mid-answer
        if kind == "responses" and response_id is not None and num_lines is not None:
            self.left_responses.append(response_id)

    async def post(self, url: str, kind: str, prompt: str, wait_s: float) -> None:
        """A non-streamed request whose client gives up after `wait_s`."""
        path, body = request_for(kind, prompt)
        async with httpx.AsyncClient(base_url=url, timeout=wait_s) as client:
            try:
                answer = await client.post(path, json={**body, "stream": False})
            except httpx.TimeoutException:
                return
        self.statuses.append(answer.status_code)
        self.bodies.append(answer.text)


def plan(rng: random.Random) -> list[tuple[str, str, str, float | int | None]]:
    """Per client: (kind, prompt, how, when): 'stream' leaves after `when` lines (None: stays to the
    end, on a short answer), 'post' gives up after `when` seconds."""
    clients = []
    for index in range(NUM_CLIENTS):
        kind = ("chat", "responses", "ollama")[index % 3]
        if rng.random() < 0.75:
            when = rng.choice([None, 0, 1, 2, rng.randint(3, 40), rng.randint(40, 120)])
            clients.append((kind, "hi" if when is None else LONG, "stream", when))
        else:
            clients.append((kind, LONG, "post", rng.uniform(0.01, 1.0)))
    return clients


async def run_clients(app: LiveApp) -> tuple[Crowd, int, float]:
    """Run the crowd; returns it, the engine's running requests at the hang-up, and its time."""
    clients = plan(random.Random(SEED))
    crowd = Crowd(num_leavers=sum(how == "stream" and when is not None for _, _, how, when in clients))
    tasks = []
    for kind, prompt, how, when in clients:
        if how == "stream":
            tasks.append(asyncio.create_task(crowd.stream(app.url, kind, prompt, when)))  # type: ignore[arg-type]
        else:
            tasks.append(asyncio.create_task(crowd.post(app.url, kind, prompt, float(when))))  # type: ignore[arg-type]
    await asyncio.wait_for(crowd.all_ready.wait(), timeout=60)
    running = app.engine.stats().num_running
    crowd.hang_up.set()
    hung_up_at = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return crowd, running, hung_up_at


def kept_status(client: httpx.Client, response_id: str) -> str | None:
    """The stored status, once the server has noticed the hang-up (on its next write)."""
    deadline = time.monotonic() + 10
    while True:
        kept = client.get(f"/v1/responses/{response_id}")
        status = kept.json()["status"] if kept.status_code == 200 else None
        if status not in (None, "in_progress") or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_clients_that_vanish_leave_nothing_running(app: LiveApp):
    before = app.engine.stats()
    crowd, running_at_hang_up, hung_up_at = asyncio.run(run_clients(app))

    with httpx.Client(base_url=app.url, timeout=10) as client:
        while (running := client.get("/health").json()["engine"]["num_running"]) and (
            time.monotonic() - hung_up_at < 10
        ):
            time.sleep(0.02)
        settled_s = time.monotonic() - hung_up_at
        assert running_at_hang_up >= 10  # the hang-ups came mid-answer
        assert running == 0 and settled_s < SETTLE_S, (running, settled_s)

        assert crowd.statuses and all(status < 500 for status in crowd.statuses), crowd.statuses
        errors = ("Traceback", '"server_error"', "internal server error")
        assert not any(mark in body for body in crowd.bodies for mark in errors)
        after = app.engine.stats()
        assert after.num_aborted - before.num_aborted >= running_at_hang_up
        assert after.num_finished > before.num_finished  # those who stayed got their whole answer

        assert crowd.left_responses
        for response_id in crowd.left_responses:
            assert kept_status(client, response_id) in ("incomplete", "completed"), response_id
        assert client.post("/v1/chat/completions", json=request_for("chat", "hi")[1]).status_code == 200
