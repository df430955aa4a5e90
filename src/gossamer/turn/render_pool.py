"""Render and tokenize large prompts in another process, so a big request stalls no other client.

openai-harmony renders and encodes in Rust without releasing the GIL: a 4 MB prompt holds it for
about a second (measured: 3.8 MB encoded in 0.85 s, 4,000 messages rendered in 0.96 s, the event
loop's longest gap over that run 1.0 s), and a worker thread would hold the whole server still for
as long. Large conversations and texts therefore go to a small process pool; small ones (nearly
all) render in place, where the round trip would cost more than the work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from typing import Any

from gossamer.harmony.conversation import Conversation
from gossamer.harmony.render import RenderedPrompt
from gossamer.turn.frames import read_frame, write_frame
from gossamer.turn.prompt import drop_oldest_turn

logger = logging.getLogger(__name__)

# Characters of prompt text from which rendering goes to the pool (~16k tokens; a few ms in place).
LARGE_PROMPT_CHARS = 64 * 1024


def prompt_chars(conv: Conversation) -> int:
    """A cheap measure of a conversation's rendering work: the text it holds."""
    size = len(conv.instructions or "")
    for m in conv.messages:
        size += len(m.content) + len(m.reasoning or "") + sum(len(c.arguments) for c in m.tool_calls)
    return size


class _Worker:
    def __init__(self) -> None:
        # The same interpreter and import path as the server (the package may not be installed).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gossamer.turn.render_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def call(self, name: str, *args: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            write_frame(self.process.stdin, (name, args))
            ok, value = read_frame(self.process.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            raise RenderPoolError(f"the render process failed ({exc}); it is restarted") from exc
        if not ok:
            raise value
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class RenderPoolError(RuntimeError):
    """The render process died or its pipe broke mid-job."""


class RenderPool:
    """Up to `num_workers` render processes, started on first use and reused."""

    def __init__(self, num_workers: int = 1) -> None:
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(num_workers)
        self._closed = False

    def _call(self, name: str, *args: Any) -> Any:
        with self._slots:
            if self._closed:
                raise RenderPoolError("the render pool is shut down")
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = _Worker()
            try:
                result = worker.call(name, *args)
            except RenderPoolError:
                worker.close()  # a broken worker is replaced by a fresh one on the next call
                raise
            except BaseException:
                self._idle.put(worker)  # the job failed, the process is fine
                raise
            self._idle.put(worker)
            return result

    def warm(self) -> None:
        """Start a render process ahead of the first large request (it takes a second or more)."""
        with self._slots:
            if self._idle.empty() and not self._closed:
                self._idle.put(_Worker())

    def render_to_fit(
        self, conv: Conversation, max_context_length: int, *, truncation: bool
    ) -> RenderedPrompt:
        """`prompt.render_to_fit` in a render process; the turns it drops are dropped from `conv` too."""
        rendered, prompt_ids, num_dropped = self._call("render", conv, max_context_length, truncation)
        for _ in range(num_dropped):
            drop_oldest_turn(conv.messages)
        return dataclasses.replace(rendered, prompt_ids=prompt_ids.tolist())

    def encode(self, text: str) -> list[int]:
        return self._call("encode", text).tolist()

    def shutdown(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
