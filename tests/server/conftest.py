"""Servers for the API tests: the real app on 127.0.0.1 over a scripted engine, in a thread.

The scripted engine plays gpt-oss: it reads the rendered harmony prompt and answers with the
tokens gpt-oss would write (a tool call when tools are offered and not yet answered, else
reasoning then a final answer), so render -> engine -> decoder -> API -> HTTP all run for real.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn

from gossamer.engine.protocol import SamplingParams
from gossamer.harmony.tokenizer import decode_text, encode_text, load_harmony_encoding
from gossamer.server.app import create_app
from gossamer.server.settings import ServerSettings
from gossamer.server.state import ServerState
from gossamer.testing.scripted_engine import ScriptedEngine, harmony_reply

MODEL_NAME = "gpt-oss-20b"
GREETING = "Hello there! How can I help?"
REASONING = "The user greets me. I should greet back."
LONG_WORDS = 400
CALL_TOKEN = 200012  # <|call|>


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gpt_oss_script(prompt_ids: list[int], params: SamplingParams, index: int) -> list[int]:
    prompt = decode_text(prompt_ids)
    reply_prefill = prompt[prompt.rfind("<|start|>assistant") :]
    if "to=functions." in reply_prefill and reply_prefill.endswith("<|message|>"):
        # tool_choice required/named: the call header is prefilled, only the arguments are left.
        return [*encode_text('{"city": "Paris"}'), CALL_TOKEN]
    last_user = prompt.rfind("<|start|>user")
    since_user = prompt[last_user:]
    if "namespace functions" in prompt and "to=assistant" not in since_user and "type get_weather" in prompt:
        return harmony_reply(
            reasoning="I should call get_weather.", calls=[("get_weather", '{"city": "Paris"}')]
        )
    if "to=assistant" in since_user:
        return harmony_reply(reasoning="The tool answered.", final="It is sunny in Paris.")
    if "write a long story" in since_user:
        return harmony_reply(final=" ".join(f"word{i}" for i in range(LONG_WORDS)))
    return harmony_reply(reasoning=REASONING, final=GREETING)


@dataclass
class LiveApp:
    url: str
    engine: ScriptedEngine
    state: ServerState
    server: uvicorn.Server
    thread: threading.Thread
    settings: ServerSettings = field(default_factory=ServerSettings)
    scratch: Path | None = None  # the temporary folder made for its store, removed on stop

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def start_app(engine: ScriptedEngine, settings: ServerSettings | None = None) -> LiveApp:
    settings = settings or ServerSettings()
    settings.port = free_port()
    scratch = None
    if settings.responses_store is None:  # never the user's data directory
        scratch = Path(tempfile.mkdtemp(prefix="gossamer-test-"))
        settings.responses_store = str(scratch / "responses.sqlite3")
    state = ServerState(
        engine=engine, encoding=load_harmony_encoding(), model_name=MODEL_NAME, settings=settings
    )
    config = uvicorn.Config(
        create_app(state), host="127.0.0.1", port=settings.port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)

    def run() -> None:
        asyncio.run(server.serve())

    thread = threading.Thread(target=run, daemon=True, name=f"test-server-{settings.port}")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return LiveApp(f"http://127.0.0.1:{settings.port}", engine, state, server, thread, settings, scratch)


@pytest.fixture(scope="session")
def scripted_app() -> Iterator[LiveApp]:
    app = start_app(ScriptedEngine(gpt_oss_script, max_context_length=4096, tokens_per_step=2))
    yield app
    app.stop()
