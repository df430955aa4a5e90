"""Every request leaves one structured (JSON) log line with its id, route, status and duration."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from tests.server.conftest import MODEL_NAME, LiveApp


def test_request_log_lines_are_json(scripted_app: LiveApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gossamer.server.requests"):
        ok = httpx.post(
            scripted_app.base_url + "/chat/completions",
            json={"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "stream": True},
            timeout=30,
        )
        bad = httpx.post(scripted_app.base_url + "/chat/completions", json={"model": MODEL_NAME}, timeout=30)
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gossamer.server.requests"]
    by_id = {r["request_id"]: r for r in records}
    logged_ok = by_id[ok.headers["x-request-id"]]
    assert logged_ok["status"] == 200 and logged_ok["path"] == "/v1/chat/completions"
    assert logged_ok["bytes"] == len(ok.content)  # logged when the stream ended, with its full size
    assert logged_ok["duration_ms"] >= 0 and logged_ok["method"] == "POST"
    assert by_id[bad.headers["x-request-id"]]["status"] == 400
