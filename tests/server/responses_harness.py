"""A real server process for the Responses and Agents SDK tests, and the engine it may run.

`python tests/server/responses_harness.py --port P [--engine scripted|model] [--model DIR]` serves
the full app (create_app) with uvicorn on 127.0.0.1. The scripted engine plays gpt-oss in a tool
loop: it reads the rendered harmony prompt and answers with the harmony tokens gpt-oss would
write (reasoning, then a call to each offered tool not yet answered, then a final answer), so the
whole path (render -> engine -> decoder -> API) runs for real without model weights. The store
path comes from $GOSSAMER_RESPONSES_STORE, so a test can restart the process on the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gossamer.engine.protocol import EngineStats, RequestOutput, SamplingParams

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


@dataclass
class _Request:
    prompt_ids: list[int]
    params: SamplingParams
    aborted: asyncio.Event


class ToolLoopEngine:
    """Engine protocol over `tool_loop_reply`: one token per step, honouring max_tokens and abort."""

    def __init__(self, *, max_context_length: int = CONTEXT_TOKENS, step_delay_s: float = 0.0) -> None:
        from gossamer.harmony.tokenizer import load_harmony_encoding

        self.encoding = load_harmony_encoding()
        self._max_context_length = max_context_length
        self.step_delay_s = step_delay_s
        self._requests: dict[str, _Request] = {}
        self.num_finished = 0
        self.num_aborted = 0

    @property
    def max_context_length(self) -> int:
        return self._max_context_length

    def generate(
        self, request_id: str, prompt_ids: list[int], params: SamplingParams
    ) -> AsyncIterator[RequestOutput]:
        request = _Request(list(prompt_ids), params, asyncio.Event())
        self._requests[request_id] = request
        return self._run(request_id, request)

    async def _run(self, request_id: str, request: _Request) -> AsyncIterator[RequestOutput]:
        prompt = self.encoding.decode(request.prompt_ids)
        reply = self.encoding.encode(tool_loop_reply(prompt), allowed_special="all")
        # A slow "model" when the prompt asks for it: lets tests cancel a background response.
        delay = 0.05 if "SLOWLY" in prompt else self.step_delay_s
        max_tokens = request.params.max_tokens or len(reply)
        try:
            for index, token_id in enumerate(reply):
                if delay:
                    await asyncio.sleep(delay)
                if request.aborted.is_set():
                    self.num_aborted += 1
                    yield self._output(request_id, request, (), "abort", None)
                    return
                is_stop = token_id in request.params.stop_token_ids
                is_last = is_stop or index + 1 >= max_tokens or index + 1 == len(reply)
                reason = ("stop" if is_stop or index + 1 == len(reply) else "length") if is_last else None
                yield self._output(request_id, request, (token_id,), reason, token_id if is_stop else None)
                if is_last:
                    self.num_finished += 1
                    return
        finally:
            self._requests.pop(request_id, None)

    def _output(
        self,
        request_id: str,
        request: _Request,
        token_ids: tuple[int, ...],
        reason: str | None,
        stop_token_id: int | None,
    ) -> RequestOutput:
        return RequestOutput(
            request_id=request_id,
            index=0,
            token_ids=token_ids,
            finished=reason is not None,
            finish_reason=reason,
            stop_token_id=stop_token_id,
            num_prompt_tokens=len(request.prompt_ids),
            num_cached_tokens=0,
        )

    async def abort(self, request_id: str) -> None:
        request = self._requests.get(request_id)
        if request is not None:
            request.aborted.set()

    def stats(self) -> EngineStats:
        return EngineStats(
            num_running=len(self._requests),
            num_waiting=0,
            kv_usage=0.0,
            num_free_blocks=0,
            num_total_blocks=0,
            prefix_hit_rate=0.0,
            num_aborted=self.num_aborted,
            num_finished=self.num_finished,
        )

    async def shutdown(self) -> None:
        for request in self._requests.values():
            request.aborted.set()


def build_app(engine_kind: str, model: str | None, context_tokens: int):
    from gossamer.harmony.tokenizer import load_harmony_encoding
    from gossamer.server.app import create_app
    from gossamer.server.settings import ServerSettings
    from gossamer.server.state import ServerState

    if engine_kind == "scripted":
        engine = ToolLoopEngine(max_context_length=context_tokens)
        state = ServerState(engine=engine, encoding=engine.encoding, model_name="gpt-oss-20b")
        return create_app(state)
    from gossamer.server.main import build_state

    state = build_state(ServerSettings(model=model, max_context_length=context_tokens))
    state.encoding = state.encoding or load_harmony_encoding()
    return create_app(state)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--engine", choices=("scripted", "model"), default="scripted")
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


@contextmanager
def serve(
    store_path: str | Path,
    *,
    engine: str = "scripted",
    model: str | None = None,
    context_tokens: int = CONTEXT_TOKENS,
    timeout_s: float = 120.0,
) -> Iterator[RunningServer]:
    """Start the harness as its own process on 127.0.0.1 and stop it (SIGTERM) afterwards."""
    port = free_port()
    env = {**os.environ, "GOSSAMER_RESPONSES_STORE": str(store_path), "PYTHONPATH": str(REPO)}
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
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not come up")
            time.sleep(0.2)
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
