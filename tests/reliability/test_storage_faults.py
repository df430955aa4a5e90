"""Storage that fails loudly and safely: a read-only or full state folder never yields a bare 500
or a stream without its end, stateless calls keep working, and a stored response whose client
left is kept. The folders are small tmpfs mounts (skipped where this user cannot mount)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import MODEL_NAME, LiveApp, gpt_oss_script, start_app

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def tmpfs(path: Path, *options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or mounted.returncode})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def serve(store: Path, **settings) -> LiveApp:
    engine = ScriptedEngine(gpt_oss_script, max_context_length=4096)
    return start_app(engine, ServerSettings(responses_store=str(store), **settings))


def sse_events(response: httpx.Response) -> list[dict]:
    return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


def test_a_read_only_state_folder(tmp_path, caplog):
    with tmpfs(tmp_path / "state", "ro", "size=1m") as state:
        app = serve(state / "gossamer" / "responses.sqlite3")
        try:
            client = openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0)
            with pytest.raises(openai.InternalServerError) as info:  # 503: stored responses are off
                client.responses.create(model=MODEL_NAME, input="hi")
            assert info.value.status_code == 503 and "store=false" in info.value.message
            with pytest.raises(openai.InternalServerError):
                client.responses.retrieve("resp_anything")
            stateless = client.responses.create(model=MODEL_NAME, input="hi", store=False)
            assert stateless.status == "completed"
            hi = [{"role": "user", "content": "hi"}]
            chat = client.chat.completions.create(model=MODEL_NAME, messages=hi)
            assert chat.choices[0].message.content
        finally:
            app.stop()
    assert "cannot be written" in caplog.text  # said at start, not at the first request


def fill(folder: Path) -> None:
    """Take every free byte of `folder`'s file system."""
    filler = (folder / "filler").open("wb", buffering=0)  # unbuffered: closing has nothing to flush
    try:
        while True:
            filler.write(b"\0" * 4096)
    except OSError:  # ENOSPC: full
        pass
    finally:
        filler.close()


def test_a_full_state_folder(tmp_path):
    with tmpfs(tmp_path / "state", "size=2m") as state:
        app = serve(state / "responses.sqlite3")
        try:
            client = openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0)
            assert client.responses.create(model=MODEL_NAME, input="hi").status == "completed"
            fill(state)
            body = {"model": MODEL_NAME, "input": "write a long story " * 20, "stream": True}
            with httpx.stream("POST", app.base_url + "/responses", json=body, timeout=60) as streamed:
                events = sse_events(streamed)
            assert events[-1]["type"] == "response.failed"  # the stream ends, and says why
            error = events[-1]["response"]["error"]
            assert error["code"] == "storage_full" and "disk is full" in error["message"]
            whole = httpx.post(app.base_url + "/responses", json={**body, "stream": False}, timeout=60)
            assert whole.status_code == 507 and whole.json()["error"]["code"] == "storage_full"
            assert client.responses.create(model=MODEL_NAME, input="hi", store=False).status == "completed"
        finally:
            app.stop()


def test_a_streamed_response_whose_client_left_is_kept(tmp_path):
    app = serve(tmp_path / "responses.sqlite3")
    try:
        body = {"model": MODEL_NAME, "input": "write a long story", "stream": True}
        with httpx.stream("POST", app.base_url + "/responses", json=body, timeout=60) as streamed:
            lines = streamed.iter_lines()
            created = next(json.loads(line[6:]) for line in lines if line.startswith("data: "))
            for _ in range(10):  # a few deltas, then the client hangs up
                next(lines)
        response_id = created["response"]["id"]
        client = openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0)
        for _ in range(50):  # the server notices the hang-up on its next write
            kept = client.responses.retrieve(response_id)
            if kept.status != "in_progress":
                break
            time.sleep(0.1)
        assert kept.status in ("incomplete", "completed")
        assert kept.output  # what was made before the client left
    finally:
        app.stop()
