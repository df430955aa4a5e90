"""Model files on the user's disk: requests learn nothing about folders unless local paths are
allowed, and gossamer deletes only what is its own (never another tool's model in the shared
Hugging Face cache)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pexpect
import pytest

from gossamer.hub import RemovalRefused, plan_removal, remove_model
from gossamer.hub.store import set_pull_record
from tests.cli.cli_process import REPO_ROOT, cli_env
from tests.cli.live_server import live_server
from tests.cli.small_checkpoint import write_small_checkpoint

JSON = {"content-type": "application/json"}


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("GOSSAMER_HOME", str(tmp_path / "gossamer"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return tmp_path


def cached_repo(homes: Path, repo_id: str, config: dict) -> Path:
    """A model as `hf download` leaves it in the shared cache: refs/main -> snapshots/<commit>."""
    storage = homes / "hf" / "hub" / ("models--" + repo_id.replace("/", "--"))
    snapshot = storage / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(config))
    (snapshot / "model.safetensors").write_bytes(b"\0" * 1024)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text("0123abcd")
    return storage


GPT_OSS = {"model_type": "gpt_oss", "num_local_experts": 32}
BERT = {"model_type": "bert", "hidden_size": 768}


def test_another_tools_model_is_never_deleted(homes):
    bert = cached_repo(homes, "google-bert/bert-base-uncased", BERT)
    theirs = cached_repo(homes, "openai/gpt-oss-120b", GPT_OSS)  # gpt-oss, but not pulled by gossamer
    for name, storage in (("google-bert/bert-base-uncased", bert), ("gpt-oss-120b", theirs)):
        with pytest.raises(RemovalRefused, match="not downloaded by gossamer"):
            remove_model(name)
        assert (storage / "snapshots" / "0123abcd" / "config.json").is_file()
    mine = cached_repo(homes, "openai/gpt-oss-20b", GPT_OSS)
    set_pull_record("openai/gpt-oss-20b", {"complete": True, "commit": "0123abcd"})
    assert plan_removal("gpt-oss-20b").paths == [mine]
    assert "deleted openai/gpt-oss-20b" in remove_model("gpt-oss-20b")
    assert not mine.exists()


def test_a_non_gpt_oss_repo_gossamer_pulled_is_still_refused(homes):
    storage = cached_repo(homes, "someone/not-a-gpt-oss", BERT)
    set_pull_record("someone/not-a-gpt-oss", {"complete": True, "commit": "0123abcd"})
    with pytest.raises(RemovalRefused, match="not a gpt-oss checkpoint"):
        remove_model("someone/not-a-gpt-oss")
    assert storage.is_dir()


def test_the_cli_refuses_and_asks(homes):
    bert = cached_repo(homes, "google-bert/bert-base-uncased", BERT)
    env = cli_env(homes)
    command = [sys.executable, "-m", "gossamer.cli", "rm", "--yes", "google-bert/bert-base-uncased"]
    refused = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "not downloaded by gossamer" in refused.stderr
    assert "Traceback" not in refused.stderr and bert.is_dir()

    mine = cached_repo(homes, "openai/gpt-oss-20b", GPT_OSS)
    (homes / "gossamer").mkdir(exist_ok=True)
    pulls = {"openai/gpt-oss-20b": {"complete": True, "commit": "0123abcd"}}  # gossamer pulled it
    (homes / "gossamer" / "models.json").write_text(json.dumps({"registered": {}, "pulls": pulls}))
    for answer, kept in (("n", True), ("y", False)):
        child = pexpect.spawn(sys.executable, ["-m", "gossamer.cli", "rm", "gpt-oss-20b"], env=env,
                              cwd=str(REPO_ROOT), encoding="utf-8", timeout=60)
        child.expect(r"delete openai/gpt-oss-20b: .*\(.*\)")
        child.expect(r"Delete\? \[y/N\] ")
        child.sendline(answer)
        child.expect(pexpect.EOF)
        child.close()
        assert mine.is_dir() is kept


def test_folders_are_invisible_unless_local_paths_are_allowed(homes, tmp_path):
    model_dir = write_small_checkpoint(tmp_path / "models" / "mine")
    not_a_model = tmp_path / "holiday-photos"
    not_a_model.mkdir()
    with live_server(None) as server:
        answers = [
            httpx.request(method, server.url + path, json={"model": name}, timeout=30)
            for method, path in (("POST", "/api/show"), ("POST", "/api/pull"), ("DELETE", "/api/delete"))
            for name in (str(model_dir), str(not_a_model), str(tmp_path / "no-such-folder"), "/etc", "~")
        ]
        # The same answer for a model, a folder, nothing at all: a page learns nothing about the disk.
        assert {(a.status_code, a.json()["error"]) for a in answers} == {(403, answers[0].json()["error"])}
        assert "--allow-local-paths" in answers[0].json()["error"]
    with live_server(None, allow_local_paths=True) as server:
        shown = httpx.post(server.url + "/api/show", json={"model": str(model_dir)}, timeout=30)
        assert shown.status_code == 200 and shown.json()["details"]["family"] == "gpt-oss"
        body = {"model": str(not_a_model), "stream": False}
        pulled = httpx.post(server.url + "/api/pull", json=body, timeout=30)
        assert pulled.status_code == 400 and "config.json" in pulled.json()["error"]
