"""A real gossamer server (uvicorn on 127.0.0.1, a free port, in a thread) over a scripted engine.

The scripted model answers like gpt-oss would in harmony: it reasons (saying at which effort the
prompt asked for), answers, and calls `get_weather` when that tool is offered and not yet answered.
"""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from gossamer.engine.protocol import SamplingParams
from gossamer.harmony.tokenizer import load_harmony_encoding
from gossamer.server.app import create_app
from gossamer.server.settings import ServerSettings
from gossamer.server.state import ServerState
from gossamer.testing.scripted_engine import ScriptedEngine, harmony_reply


def scripted_model(prompt_ids: list[int], params: SamplingParams, index: int) -> list[int]:
    text = load_harmony_encoding().decode(prompt_ids)
    effort = m[1] if (m := re.search(r"Reasoning: (\w+)", text)) else "unknown"
    last_user = text.rsplit("<|start|>user<|message|>", 1)[-1].split("<|end|>", 1)[0]
    answered = "<|start|>functions.get_weather" in text
    if "get_weather" in text and not answered:
        return harmony_reply(
            reasoning="I should look up the weather.", calls=[("get_weather", '{"city": "Paris"}')]
        )
    if answered:
        result = (
            text.rsplit("<|start|>functions.get_weather", 1)[-1]
            .split("<|message|>", 1)[1]
            .split("<|end|>")[0]
        )
        return harmony_reply(reasoning="The tool answered.", final=f"The weather: {result}")
    return harmony_reply(
        reasoning=f"Thinking at {effort} effort about: {last_user}",
        final=f"You said: {last_user}. Effort {effort}.",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    state: ServerState
    engine: ScriptedEngine


@contextmanager
def live_server(
    model_path: Path | None,
    *,
    model_name: str = "gpt-oss-20b",
    step_delay_s: float = 0.01,
    api_key: str | None = None,
    allow_local_paths: bool = False,
) -> Iterator[LiveServer]:
    engine = ScriptedEngine(script=scripted_model, max_context_length=8192, step_delay_s=step_delay_s)
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="gossamer-test-"))
    store = scratch / "responses.sqlite3"  # not the user's
    settings = ServerSettings(
        host="127.0.0.1",
        port=port,
        served_model_name=model_name,
        api_key=api_key,
        responses_store=str(store),
        allow_local_paths=allow_local_paths,
    )
    state = ServerState(
        engine=engine,
        encoding=load_harmony_encoding(),
        model_name=model_name,
        model_path=model_path,
        settings=settings,
    )
    config = uvicorn.Config(
        create_app(state), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", state, engine)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)
