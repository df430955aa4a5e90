"""`pull` with the real huggingface_hub client against a fake hub served over HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from gossamer.errors import GossamerError
from gossamer.hub import (
    ChecksumError,
    ModelNotDownloaded,
    OfflineError,
    PullProgress,
    list_models,
    pull_model,
    remove_model,
    resolve_model,
)
from tests.cli.conftest import REPO_ID

WEIGHTS = "model.safetensors"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_full_pull_fetches_only_needed_files_into_the_hf_cache(fake_hub, store_env):
    events: list[PullProgress] = []
    path = pull_model("gpt-oss-20b", on_progress=events.append)

    assert path.parent.parent == store_env / "hf" / "hub" / "models--openai--gpt-oss-20b"
    assert sorted(p.name for p in path.iterdir()) == ["config.json", WEIGHTS, "tokenizer_config.json"]
    served = fake_hub.repos[REPO_ID].files
    assert _sha256(path / WEIGHTS) == served[WEIGHTS].sha256
    fetched = {p for m, p, _ in fake_hub.requests if m == "GET" and "/resolve/" in p}
    assert not any("/original/" in p or "/metal/" in p for p in fetched)
    assert events[0].status == "pulling manifest" and events[-1].status == "success"
    assert events[-1].completed == events[-1].total == sum(f.stat().st_size for f in path.iterdir())

    # Every spelling of the name resolves to the same directory.
    for name in ("gpt-oss-20b", "gpt-oss:20b", "openai/gpt-oss-20b"):
        assert resolve_model(name) == path
    [entry] = [e for e in list_models() if e.source == "cached"]
    assert (entry.name, entry.layout, entry.complete) == (REPO_ID, "hf", True)
    assert entry.size_bytes > 24 << 20


def test_pull_cut_mid_file_resumes_with_a_range_request(fake_hub):
    # The first GET of the weights breaks after 12 MiB; huggingface_hub keeps the first 10 MiB chunk.
    fake_hub.cut_after[WEIGHTS] = (12 << 20, 1)
    path = pull_model("gpt-oss-20b")
    ranges = fake_hub.file_requests(WEIGHTS)
    assert ranges[0] is None and ranges[1] == f"bytes={10 << 20}-"
    assert _sha256(path / WEIGHTS) == fake_hub.repos[REPO_ID].files[WEIGHTS].sha256


def test_interrupted_pull_reports_half_download_and_the_next_pull_finishes(fake_hub):
    # Cut every attempt: huggingface_hub gives up after its retries.
    fake_hub.cut_after[WEIGHTS] = (1 << 20, 100)
    with pytest.raises(OfflineError, match="run `gossamer pull openai/gpt-oss-20b` again to resume"):
        pull_model("gpt-oss-20b")
    with pytest.raises(ModelNotDownloaded, match="half downloaded"):
        resolve_model("gpt-oss-20b")
    [entry] = [e for e in list_models() if e.source == "cached"]
    assert not entry.complete

    fake_hub.cut_after.clear()
    before = len(fake_hub.file_requests("config.json"))
    path = pull_model("gpt-oss-20b")
    # config.json finished the first time and is not fetched again.
    assert len(fake_hub.file_requests("config.json")) == before
    assert resolve_model("gpt-oss:20b") == path


def test_corrupted_file_is_caught_and_deleted(fake_hub):
    fake_hub.corrupt.add(WEIGHTS)
    with pytest.raises(ChecksumError, match=r"model\.safetensors is corrupt"):
        pull_model("gpt-oss-20b")
    with pytest.raises(ModelNotDownloaded):
        resolve_model("gpt-oss-20b")

    fake_hub.corrupt.clear()
    path = pull_model("gpt-oss-20b")
    assert _sha256(path / WEIGHTS) == fake_hub.repos[REPO_ID].files[WEIGHTS].sha256


def test_offline_fails_fast_with_what_to_do(store_env, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(OfflineError) as info:
        pull_model("gpt-oss-20b")
    message = str(info.value)
    assert "HF_ENDPOINT" in message
    assert str(store_env / "gossamer" / "models" / REPO_ID) in message

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE"):
        pull_model("gpt-oss-20b")


def test_unknown_repo_and_non_gpt_oss_repo(fake_hub):
    with pytest.raises(GossamerError, match="no model repository 'openai/gpt-oss-7b'"):
        pull_model("openai/gpt-oss-7b")
    fake_hub.add_repo("someone/not-a-model", {"README.md": b"hello"})
    with pytest.raises(GossamerError, match="does not look like a gpt-oss checkpoint"):
        pull_model("someone/not-a-model")


def test_original_layout_pull(fake_hub):
    path = pull_model("gpt-oss-20b", layout="original")
    assert path.name == "original"
    assert (path / "config.json").is_file()
    assert resolve_model("gpt-oss-20b") == path


def test_remove_deletes_the_cached_repo(fake_hub, store_env):
    pull_model("gpt-oss-20b")
    assert "deleted openai/gpt-oss-20b" in remove_model("gpt-oss-20b")
    assert not (store_env / "hf" / "hub" / "models--openai--gpt-oss-20b").exists()
    with pytest.raises(ModelNotDownloaded, match="gossamer pull"):
        resolve_model("gpt-oss-20b")
