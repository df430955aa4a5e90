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
    fetch,
    list_models,
    pull_model,
    remove_model,
    resolve_model,
)
from tests.cli.small_checkpoint import REPO_ID

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
    fake_hub.cut_after[WEIGHTS] = (12 << 20, 1)
    path = pull_model("gpt-oss-20b")
    assert fake_hub.file_requests(WEIGHTS) == [None, f"bytes={12 << 20}-"]
    assert _sha256(path / WEIGHTS) == fake_hub.repos[REPO_ID].files[WEIGHTS].sha256


def test_interrupted_pull_keeps_its_bytes_and_the_next_pull_resumes(fake_hub, monkeypatch):
    monkeypatch.setattr(fetch, "MAX_RETRIES", 1)
    # The network goes away 5 MiB into the weights: the pull gives up, as after a crash or Ctrl-C.
    fake_hub.cut_after[WEIGHTS] = (5 << 20, 1)
    fake_hub.offline_after_cut = True
    with pytest.raises(OfflineError, match="run `gossamer pull openai/gpt-oss-20b` again to resume"):
        pull_model("gpt-oss-20b")
    with pytest.raises(ModelNotDownloaded, match="half downloaded"):
        resolve_model("gpt-oss-20b")
    [entry] = [e for e in list_models() if e.source == "cached"]
    assert not entry.complete

    fake_hub.offline = fake_hub.offline_after_cut = False
    num_weight_gets = len(fake_hub.file_requests(WEIGHTS))
    num_config_gets = len(fake_hub.file_requests("config.json"))
    path = pull_model("gpt-oss-20b")
    # The next pull asks only for the missing bytes, and for config.json (finished) not at all.
    assert fake_hub.file_requests(WEIGHTS)[num_weight_gets:] == [f"bytes={5 << 20}-"]
    assert len(fake_hub.file_requests("config.json")) == num_config_gets
    assert _sha256(path / WEIGHTS) == fake_hub.repos[REPO_ID].files[WEIGHTS].sha256
    assert resolve_model("gpt-oss:20b") == path


def test_refs_main_points_other_tools_at_the_snapshot(fake_hub, store_env):
    from huggingface_hub import snapshot_download

    path = pull_model("gpt-oss-20b")
    # What transformers/vLLM do offline: find the snapshot through refs/main.
    found = snapshot_download(
        REPO_ID,
        local_files_only=True,
        cache_dir=str(store_env / "hf" / "hub"),
        allow_patterns=["config.json", "*.safetensors"],
        ignore_patterns=["original/*"],
    )
    assert Path(found) == path


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


def test_a_second_concurrent_pull_is_refused(fake_hub, store_env):
    from filelock import FileLock

    lock = store_env / "gossamer" / "locks" / "openai--gpt-oss-20b.lock"
    lock.parent.mkdir(parents=True)
    busy = "another pull of openai/gpt-oss-20b is running"
    with FileLock(str(lock)), pytest.raises(GossamerError, match=busy):
        pull_model("gpt-oss-20b")


def test_not_enough_disk_space_is_said_before_downloading(fake_hub, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 << 30, 10 << 30, 1 << 20))
    with pytest.raises(GossamerError, match="GiB free; free some space or point HF_HOME"):
        pull_model("gpt-oss-20b")
    assert not fake_hub.file_requests(WEIGHTS)
