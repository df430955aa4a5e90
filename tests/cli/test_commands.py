"""Every command run as a child process: exit codes and messages, never a stack trace."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from tests.cli.cli_process import cli_env, gossamer
from tests.cli.live_server import free_port, live_server
from tests.cli.small_checkpoint import write_small_checkpoint


def assert_clean_failure(result, code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_unknown_model(tmp_path):
    env = cli_env(tmp_path)
    assert_clean_failure(gossamer("show", "llama-3", env=env), 1, "error: unknown model 'llama-3'")
    assert_clean_failure(gossamer("pull", "./no/such/dir", env=env), 1, "no such model directory")
    assert_clean_failure(gossamer("rm", "gpt-oss-20b", env=env), 1, "not downloaded")
    assert_clean_failure(gossamer("run", "gpt-oss-120b", "hi", env=env), 1, "gossamer pull")


def test_bad_flag_values(tmp_path):
    env = cli_env(tmp_path)
    assert_clean_failure(gossamer("serve", "--port", "abc", env=env), 2, "invalid int value")
    assert_clean_failure(gossamer("run", "--think", "extreme", env=env), 2, "invalid choice")
    assert_clean_failure(gossamer("pull", "gpt-oss-20b", "--layout", "gguf", env=env), 2, "invalid choice")
    assert_clean_failure(gossamer("serve", "--port", "70000", env=env), 1, "out of range")
    assert_clean_failure(gossamer("serve", "--dtype", "int3", env=env), 1, "unknown dtype 'int3'")
    assert_clean_failure(gossamer("serve", "--device", "tpu", env=env), 1, "unknown device 'tpu'")
    assert_clean_failure(gossamer("serve", env=cli_env(tmp_path, GOSSAMER_PORT="eighty")), 1, "GOSSAMER_PORT")


def test_serve_reports_a_port_in_use(tmp_path):
    model = write_small_checkpoint(tmp_path / "model")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = gossamer("serve", str(model), "--port", str(port), env=cli_env(tmp_path))
    assert_clean_failure(result, 1, f"cannot listen on 127.0.0.1:{port}", "--port")


def test_pull_list_show_rm(fake_hub, store_env):
    env = cli_env(store_env, HF_ENDPOINT=fake_hub.endpoint)
    result = gossamer("pull", "gpt-oss-20b", env=env)
    assert result.returncode == 0, result.stderr
    assert "gpt-oss-20b: ready in" in result.stdout

    listing = gossamer("list", env=env)
    assert listing.returncode == 0
    [row] = [line for line in listing.stdout.splitlines() if line.startswith("openai/gpt-oss-20b")]
    _name, source, layout, _size, unit, status, _path = row.split()
    assert (source, layout, unit, status) == ("cached", "hf", "MiB", "ready")

    shown = gossamer("show", "gpt-oss:20b", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "quantization   MXFP4 experts" in shown.stdout
    assert "context        131072 tokens (4096 x YaRN 32)" in shown.stdout
    assert "experts        4, 2 per token" in shown.stdout

    unconfirmed = gossamer("rm", "gpt-oss-20b", env=env)  # no terminal to ask in, no --yes
    assert_clean_failure(unconfirmed, 1, "pass --yes")
    removed = gossamer("rm", "--yes", "gpt-oss-20b", env=env)
    assert removed.returncode == 0 and "deleted openai/gpt-oss-20b" in removed.stdout
    assert_clean_failure(gossamer("show", "gpt-oss-20b", env=env), 1, "not downloaded", "gossamer pull")


def test_pull_offline_fails_fast_with_what_to_do(store_env):
    env = cli_env(store_env, HF_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    start = time.monotonic()
    result = gossamer("pull", "gpt-oss-20b", env=env)
    assert time.monotonic() - start < 60
    assert_clean_failure(
        result, 1, "HF_ENDPOINT", str(store_env / "gossamer" / "models" / "openai/gpt-oss-20b")
    )


@pytest.mark.slow
def test_half_downloaded_model_is_reported_everywhere(fake_hub, store_env):
    env = cli_env(store_env, HF_ENDPOINT=fake_hub.endpoint)
    fake_hub.cut_after["model.safetensors"] = (1 << 20, 1)
    fake_hub.offline_after_cut = True
    assert_clean_failure(gossamer("pull", "gpt-oss-20b", env=env), 1, "again to resume")
    fake_hub.offline = fake_hub.offline_after_cut = False
    assert_clean_failure(gossamer("show", "gpt-oss-20b", env=env), 1, "half downloaded")
    assert_clean_failure(gossamer("serve", "gpt-oss-20b", env=env), 1, "half downloaded")
    assert_clean_failure(gossamer("run", "gpt-oss-20b", "hi", env=env), 1, "half downloaded")
    assert "incomplete" in gossamer("list", env=env).stdout


def test_register_a_local_directory(store_env):
    env = cli_env(store_env)
    model = write_small_checkpoint(store_env / "my-gpt-oss")
    assert gossamer("pull", str(model), env=env).returncode == 0
    listing = gossamer("list", env=env).stdout
    assert any(line.startswith("my-gpt-oss") and "registered" in line for line in listing.splitlines())
    assert gossamer("show", "my-gpt-oss", env=env).returncode == 0
    removed = gossamer("rm", "my-gpt-oss", env=env)
    assert "unregistered my-gpt-oss" in removed.stdout
    assert model.is_dir()  # the user's files stay


def test_truncated_local_model_is_refused(store_env):
    model = write_small_checkpoint(store_env / "cut")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert_clean_failure(gossamer("show", str(model), env=cli_env(store_env)), 1, "truncated")


@pytest.fixture
def server(store_env):
    with live_server(write_small_checkpoint(store_env / "served"), model_name="gpt-oss-20b") as s:
        yield s


def test_ps_with_and_without_a_server(server, store_env):
    assert_clean_failure(gossamer("ps", env=cli_env(store_env)), 1, "no gossamer server answers")
    result = gossamer("ps", env=cli_env(store_env, GOSSAMER_HOST=server.url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[0] == "gpt-oss-20b"


def test_run_one_shot_prints_only_the_answer(server, store_env):
    env = cli_env(store_env, GOSSAMER_HOST=server.url)
    result = gossamer("run", "gpt-oss:20b", "hello there", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: hello there. Effort medium.\n"

    piped = gossamer("run", "--think", "high", env=env, input="from a pipe\n")
    assert piped.stdout == "You said: from a pipe. Effort high.\n"

    with_options = gossamer("run", "hi", "--seed", "3", "--temperature", "0.2", env=env)
    assert with_options.returncode == 0
    params = server.engine.requests[-1].params
    assert (params.seed, params.temperature) == (3, 0.2)


def test_saved_conversation_format(server, store_env, tmp_path):
    # /save writes what /load reads; checked through the chat session directly.
    from gossamer.cli.chat import ChatSession
    from gossamer.cli.chat_client import ChatClient

    session = ChatSession(ChatClient(server.url, "gpt-oss-20b"))
    from rich.console import Console

    session.ask("one", Console(file=open(tmp_path / "out.txt", "w")))  # noqa: SIM115
    session.save(tmp_path / "chat.json")
    data = json.loads((tmp_path / "chat.json").read_text())
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    other = ChatSession(ChatClient(server.url, "gpt-oss-20b"))
    other.load(tmp_path / "chat.json")
    assert other.messages == session.messages


@pytest.fixture(scope="module")
def random_tiny(tmp_path_factory):
    from gossamer.model.config import PRESETS
    from gossamer.testing.checkpoint import write_checkpoint

    return write_checkpoint(tmp_path_factory.mktemp("tiny") / "gpt-oss-random", PRESETS["tiny"], layout="hf")


@pytest.mark.slow
def test_run_in_process_when_no_server_is_up(random_tiny, store_env):
    # Random weights say nothing sensible; this checks the whole in-process path answers and exits.
    result = gossamer(
        "run", str(random_tiny), "hi", "--num-predict", "4", env=cli_env(store_env), timeout_s=300
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_serve_then_ps_and_stop_with_ctrl_c(random_tiny, store_env):
    import signal
    import subprocess
    import sys

    import httpx

    from tests.cli.cli_process import REPO_ROOT

    port = free_port()
    env = cli_env(store_env, GOSSAMER_HOST=f"http://127.0.0.1:{port}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gossamer.cli", "serve", str(random_tiny)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the server did not come up"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/version", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        ps = gossamer("ps", env=env)
        assert ps.returncode == 0 and "gpt-oss-random" in ps.stdout, ps.stderr
        for _ in range(2):
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
        # A second server on the same port is refused with a message.
        assert_clean_failure(
            gossamer("serve", str(random_tiny), env=env), 1, f"cannot listen on 127.0.0.1:{port}"
        )
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    # At the default log level: what loads, then one line saying what is served where and how,
    assert f"loading gpt-oss-random from {random_tiny} (cpu, bfloat16) ..." in stderr
    assert re.search(
        rf"serving gpt-oss-random on http://127\.0\.0\.1:{port} \(device cpu, bfloat16, "
        r"context \d+ tokens, KV cache 1\.0 GiB, .*loaded in [\d.]+ s\)\n", stderr
    ), stderr
    # then one JSON line per request.
    requests = [json.loads(line.split("gossamer.server.requests: ", 1)[1])
                for line in stderr.splitlines() if "gossamer.server.requests: " in line]
    assert [r["status"] for r in requests if r["path"] == "/health"] == [200, 200]


def test_run_and_ps_with_an_api_key(store_env):
    with live_server(write_small_checkpoint(store_env / "served"), api_key="sesame") as server:
        env = cli_env(store_env, GOSSAMER_HOST=server.url)
        assert_clean_failure(gossamer("run", "hi", env=env), 1, "needs an API key", "GOSSAMER_API_KEY")
        env["GOSSAMER_API_KEY"] = "sesame"
        assert gossamer("run", "hi", env=env).stdout == "You said: hi. Effort medium.\n"
        assert gossamer("ps", env=env).returncode == 0
