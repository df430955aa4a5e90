"""A real server process for the Responses and Agents SDK tests, and the engine it may run.

`python tests/server/responses_harness.py --port P [--engine scripted|model] [--model DIR]` serves
the full app (create_app) with uvicorn on 127.0.0.1. The scripted engine plays gpt-oss in a tool
loop: it reads the rendered harmony prompt and answers with the harmony tokens gpt-oss would
write (reasoning, then a call to each offered tool not yet answered, then a final answer), so the
whole path (render -> engine -> decoder -> API) runs for real without model weights. The store
path comes from $GOSSAMER_RESPONSES_STORE, so a test can restart the process on the same file.
`--engine mcp` plays gpt-oss calling MCP tools instead (gossamer/testing/mcp_script.py), with the
server's settings from the GOSSAMER_* environment (`serve(env=...)`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gossamer.engine.protocol import SamplingParams
from gossamer.harmony.tokenizer import decode_text, load_harmony_encoding
from gossamer.testing.scripted_engine import ScriptedEngine

REPO = Path(__file__).resolve().parents[2]
CONTEXT_TOKENS = 8192

_CALL_RE = re.compile(r"<\|start\|>assistant to=functions\.(\w+)")
_RESULT_RE = re.compile(r"<\|start\|>functions\.(\w+) to=assistant")
_TOOL_RE = re.compile(r"^type (\w+) = ", re.MULTILINE)
_USER_RE = re.compile(r"<\|start\|>user<\|message\|>(.*?)<\|end\|>", re.DOTALL)


def tool_loop_reply(prompt: str) -> str:
    """What a well-behaved gpt-oss writes next: call each offered tool once, then answer.

    Everything after the prefilled `<|start|>assistant` is returned. The answer names each tool
    result and every user message, so a test can see what the model was shown.
    """
    reply_start = prompt[prompt.rfind("<|start|>assistant") :]
    if "to=functions." in reply_start and reply_start.endswith("<|message|>"):
        # tool_choice required or named: the server prefilled the call header; only arguments are left.
        return json.dumps({"city": "Paris"}) + "<|call|>"
    offered = (
        _TOOL_RE.findall(prompt.split("namespace functions", 1)[1]) if "namespace functions" in prompt else []
    )
    last_user = prompt.rfind("<|start|>user")
    since_user = prompt[last_user:]
    answered = _RESULT_RE.findall(since_user)
    pending = [name for name in offered if name not in answered]
    if pending:
        name = pending[0]
        arguments = json.dumps({"city": "Paris"})
        return (
            f"<|channel|>analysis<|message|>I should call {name}.<|end|>"
            f"<|start|>assistant to=functions.{name}<|channel|>commentary <|constrain|>json"
            f"<|message|>{arguments}<|call|>"
        )
    results = re.findall(
        r"<\|start\|>functions\.(\w+) to=assistant<\|channel\|>commentary<\|message\|>(.*?)<\|end\|>",
        since_user,
        re.DOTALL,
    )
    users = _USER_RE.findall(prompt)
    summary = "; ".join(f"{name}={result}" for name, result in results) or "no tools"
    return (
        f"<|channel|>analysis<|message|>Answer from {summary}.<|end|>"
        f"<|start|>assistant<|channel|>final<|message|>"
        f"Results: {summary}. Users said: {' | '.join(users)}<|return|>"
    )


def tool_loop_script(prompt_ids: list[int], params: SamplingParams, index: int) -> list[int]:
    """The ScriptedEngine script: `tool_loop_reply` as token ids; "SLOWLY" asks for a long think."""
    prompt = decode_text(prompt_ids)
    if "SLOWLY" in prompt[prompt.rfind("<|start|>user") :]:
        return _encode_harmony("<|channel|>analysis<|message|>" + "hmm " * 20_000)
    return _encode_harmony(tool_loop_reply(prompt))


def _encode_harmony(text: str) -> list[int]:
    return list(load_harmony_encoding().encode(text, allowed_special="all"))


def build_app(engine_kind: str, model: str | None, context_tokens: int):
    from gossamer.server.app import create_app
    from gossamer.server.settings import ServerSettings
    from gossamer.server.state import ServerState

    if engine_kind == "mcp":
        from gossamer.server.settings import settings_from_env
        from gossamer.testing.mcp_script import mcp_tool_script

        engine = ScriptedEngine(mcp_tool_script, max_context_length=context_tokens, step_delay_s=0.001)
        settings = settings_from_env()
        encoding = load_harmony_encoding()
        state = ServerState(engine=engine, encoding=encoding, model_name="gpt-oss-20b", settings=settings)
        return create_app(state)
    if engine_kind == "scripted":
        # One millisecond a step: streams interleave like a real engine's, and a long think lasts.
        engine = ScriptedEngine(tool_loop_script, max_context_length=context_tokens, step_delay_s=0.001)
        state = ServerState(engine=engine, encoding=load_harmony_encoding(), model_name="gpt-oss-20b")
        return create_app(state)
    from gossamer.server.main import build_state

    return create_app(build_state(ServerSettings(model=model, max_context_length=context_tokens)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--engine", choices=("scripted", "mcp", "model"), default="scripted")
    parser.add_argument("--model", default=None)
    parser.add_argument("--context-tokens", type=int, default=CONTEXT_TOKENS)
    args = parser.parse_args()
    import uvicorn

    app = build_app(args.engine, args.model, args.context_tokens)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


# -- for the tests -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    base_url: str  # ends in /v1
    process: subprocess.Popen


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Until the server process at `url` answers /health (it exiting or the time running out raises)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server at {url} did not come up within {timeout_s:.0f} s")
        time.sleep(0.2)


@contextmanager
def serve(
    store_path: str | Path,
    *,
    engine: str = "scripted",
    model: str | None = None,
    context_tokens: int = CONTEXT_TOKENS,
    timeout_s: float = 120.0,
    env: dict[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Start the harness as its own process on 127.0.0.1 and stop it (SIGTERM) afterwards."""
    port = free_port()
    pythonpath = os.pathsep.join([str(REPO / "src"), str(REPO)])
    env = {**os.environ, **(env or {}), "GOSSAMER_RESPONSES_STORE": str(store_path), "PYTHONPATH": pythonpath}
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--port",
        str(port),
        "--engine",
        engine,
        "--context-tokens",
        str(context_tokens),
    ]
    if model:
        command += ["--model", model]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, timeout_s)
        yield RunningServer(base_url=f"http://127.0.0.1:{port}/v1", process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
