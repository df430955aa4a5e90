"""Fixtures for the model store and CLI tests: isolated caches and a fake hub on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from gossamer.testing.fake_hub import FakeHub
from tests.cli.small_checkpoint import REPO_ID, write_small_checkpoint


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh HF cache and gossamer home under tmp_path (the user's real caches are never touched)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("GOSSAMER_HOME", str(tmp_path / "gossamer"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path


@pytest.fixture
def fake_hub(store_env: Path, monkeypatch: pytest.MonkeyPatch):
    hub = FakeHub()
    hub.add_directory(REPO_ID, write_small_checkpoint(store_env / "source", padding_bytes=24 << 20))
    with hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub
