"""A client that hangs up mid-request has its request aborted in the engine."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import MODEL_NAME, LiveApp, gpt_oss_script, start_app

LONG = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "write a long story"}]}


@pytest.fixture(scope="module")
def slow_app() -> Iterator[LiveApp]:
    app = start_app(ScriptedEngine(gpt_oss_script, step_delay_s=0.01))
    yield app
    app.stop()


def engine_stats(app: LiveApp) -> dict:
    return httpx.get(app.url + "/health", timeout=10).json()["engine"]


def wait_for_aborted(app: LiveApp, count: int, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = engine_stats(app)
        if stats["num_aborted"] >= count and stats["num_running"] == 0:
            return stats
        time.sleep(0.05)
    raise AssertionError(f"request not aborted: {engine_stats(app)}")


def test_stream_disconnect_aborts(slow_app: LiveApp) -> None:
    before = engine_stats(slow_app)["num_aborted"]
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", slow_app.base_url + "/chat/completions", json={**LONG, "stream": True}
        ) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        received = [next(lines) for _ in range(6)]
        assert any('"content"' in line for line in received)
    # The stream was closed after a few chunks of a ~400-word answer.
    stats = wait_for_aborted(slow_app, before + 1)
    assert stats["num_running"] == 0


def test_non_streamed_disconnect_aborts(slow_app: LiveApp) -> None:
    before = engine_stats(slow_app)["num_aborted"]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(slow_app.base_url + "/chat/completions", json=LONG, timeout=0.5)
    wait_for_aborted(slow_app, before + 1)


def test_server_serves_after_disconnects(slow_app: LiveApp) -> None:
    response = httpx.post(
        slow_app.base_url + "/chat/completions",
        json={"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code == 200


def test_disconnect_before_the_first_token_aborts() -> None:
    """A client that leaves while its request waits for the first token (queue, prefill)."""
    from tests.server.conftest import start_app

    app = start_app(ScriptedEngine(gpt_oss_script, step_delay_s=6.0))
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(app.base_url + "/chat/completions", json={**LONG, "stream": True}, timeout=0.5)
        started = time.monotonic()
        wait_for_aborted(app, 1, timeout_s=10)
        assert time.monotonic() - started < 4.0  # seen before the first token was due
    finally:
        app.stop()
