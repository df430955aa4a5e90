"""What every answer of the server keeps, whatever a client sent, and a hub the tests cannot reach.

Shared by the fuzz pass and the malformed-input corpus (issue 19): no 5xx, no traceback text, an
error body in the route's API shape (Ollama's `{"error": "..."}` under /api, OpenAI's
`{"error": {"message", "type", ...}}` elsewhere), and a server that still answers /health.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/')


def error_message(path: str, answer: httpx.Response) -> str:
    """The error's message, after checking that the body has the route's error shape."""
    where = f"{answer.request.method} {path} -> {answer.status_code}: {answer.text[:400]}"
    body = answer.json()
    assert isinstance(body, dict), where
    if path.startswith("/api/"):
        assert isinstance(body.get("error"), str), where
        return body["error"]
    error = body.get("error")
    assert isinstance(error, dict), where
    assert isinstance(error.get("message"), str) and isinstance(error.get("type"), str), where
    return error["message"]


def check_answer(client: httpx.Client, path: str, answer: httpx.Response, *, may_fail: bool = False) -> None:
    """No 5xx (unless `may_fail`: the server's environment, not the request), no traceback, errors in
    the route's shape, and the server alive afterwards."""
    where = f"{answer.request.method} {path} -> {answer.status_code}: {answer.text[:400]}"
    assert answer.status_code < 500 or may_fail, where
    assert not any(mark in answer.text for mark in TRACEBACK_MARKS), where
    if answer.status_code >= 400:
        error_message(path, answer)
    assert client.get("/health").status_code == 200, f"the server died after {where}"


@contextmanager
def offline_hub(root: Path) -> Iterator[None]:
    """No pull reaches the network and no delete touches this machine's model caches: the hub cache
    and gossamer's home are folders under `root`, and the hub is offline."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(root / "hf"))
        patch.setenv("HF_HUB_CACHE", str(root / "hf" / "hub"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused at once
        patch.setenv("GOSSAMER_HOME", str(root / "gossamer"))
        yield
