"""`gossamer run` in a real terminal (a pty, through pexpect), used the way a person uses it."""

from __future__ import annotations

import json
import re
import signal
import sys
import time

import pexpect
import pytest

from tests.cli.cli_process import REPO_ROOT, cli_env
from tests.cli.live_server import live_server
from tests.cli.small_checkpoint import write_small_checkpoint


@pytest.fixture
def server(store_env):
    # 50 ms per token: slow enough to watch the answer arrive piece by piece.
    with live_server(write_small_checkpoint(store_env / "served"), step_delay_s=0.05) as s:
        yield s


ANSI = re.compile(r"\x1b\[[0-9;]*m")
DIM = "\x1b[2m"


def turn(child: pexpect.spawn) -> str:
    """The output of one turn, up to the next prompt, without colour codes."""
    child.expect(">>> ")
    return ANSI.sub("", child.before)


def leave(child: pexpect.spawn) -> None:
    """/bye ends the chat with exit status 0."""
    child.sendline("/bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def spawn_run(env: dict[str, str], *args: str, preexec_fn=None) -> pexpect.spawn:
    env = {**env, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "gossamer.cli", "run", *args],
        env=env,
        cwd=str(REPO_ROOT),
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 200),
        preexec_fn=preexec_fn,
    )
    child.expect("Type /help for commands")
    child.expect(">>> ")
    return child


@pytest.mark.slow
def test_chat_stream_effort_and_bye(server, store_env, tmp_path):
    child = spawn_run(cli_env(store_env, GOSSAMER_HOST=server.url))

    child.sendline("hello there")
    child.expect("Thinking\\.\\.\\.")
    thinking_seen_s = time.monotonic()
    child.expect(r"Effort medium\.")
    # The answer streamed: its last words came well after the chain of thought started to show.
    assert time.monotonic() - thinking_seen_s > 0.5
    raw = child.before
    child.expect(">>> ")
    # The chain of thought is dimmed and set apart from the answer.
    assert DIM in raw
    text = ANSI.sub("", raw)
    assert "Thinking at medium effort about: hello there" in text
    assert text.index("...done thinking.") < text.index("You said: hello there.")

    child.sendline("/effort high")
    child.expect("reasoning effort set to high")
    child.expect(">>> ")
    child.sendline("and now?")
    text = turn(child)
    assert "Thinking at high effort about: and now?" in text
    assert "You said: and now?. Effort high." in text

    child.sendline("/effort extreme")
    child.expect("unknown effort 'extreme'")
    child.expect(">>> ")

    # Multi-line input between triple quotes.
    child.sendline('"""first line')
    child.sendline('second line"""')
    child.expect(r"You said: first line\r?\nsecond line\. Effort high\.")
    child.expect(">>> ")

    # Hide the chain of thought.
    child.sendline("/think")
    child.expect("hiding the chain of thought")
    child.expect(">>> ")
    child.sendline("quiet")
    child.expect(r"You said: quiet\. Effort high\.")
    assert "Thinking at" not in child.before
    child.expect(">>> ")

    saved = tmp_path / "chat.json"
    child.sendline(f"/save {saved}")
    child.expect("saved 8 messages")
    child.expect(">>> ")
    child.sendline("/reset")
    child.expect("conversation cleared")
    child.expect(">>> ")
    child.sendline(f"/load {saved}")
    child.expect("loaded 8 messages")
    child.expect(">>> ")
    child.sendline("/help")
    child.expect("/bye")
    child.expect(">>> ")

    leave(child)
    # Input history survives for the next session (readline).
    assert "hello there" in (store_env / "gossamer" / "history").read_text()
    messages = json.loads(saved.read_text())["messages"]
    assert messages[0] == {"role": "user", "content": "hello there"}
    # The server saw the whole conversation on the last turn, at the effort in force.
    last_prompt = server.state.encoding.decode(server.engine.requests[-1].prompt_ids)
    assert "Reasoning: high" in last_prompt and "hello there" in last_prompt


def test_hide_thinking_stats_ctrl_c_and_ctrl_d(server, store_env):
    child = spawn_run(
        cli_env(store_env, GOSSAMER_HOST=server.url), "--hide-thinking", "--think", "low", "--stats"
    )
    child.sendline("hi")
    text = turn(child)
    assert "You said: hi. Effort low." in text
    assert "Thinking" not in text
    assert re.search(r"\d+ tokens, [\d.]+ tokens/s", text)
    child.sendintr()  # Ctrl-C at the prompt does not quit
    child.expect("Use Ctrl-D or /bye to leave.")
    child.expect(">>> ")
    child.sendline("still here")
    assert "You said: still here. Effort low." in turn(child)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_works_when_the_launching_shell_ignores_sigint(server, store_env):
    """nohup, setsid or a CI runner hand the child SIGINT ignored; the chat takes Ctrl-C back all the same."""
    child = spawn_run(
        cli_env(store_env, GOSSAMER_HOST=server.url),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # what the child inherits
    )
    child.sendintr()  # at the prompt: clears the line
    child.expect("Use Ctrl-D or /bye to leave.")
    child.expect(">>> ")
    child.sendline("a long question " * 20)
    child.expect("Thinking\\.\\.\\.")
    child.sendintr()  # during an answer (50 ms per token): stops it
    child.expect("\\(interrupted\\)")
    child.expect(">>> ")
    leave(child)


@pytest.mark.slow
def test_run_in_process_on_the_embedded_model(store_env):
    """No server up: `gossamer run` loads gossamer-tiny in its own process and chats in the terminal."""
    try:
        from gossamer.tiny import model_path

        model_path(store_env / "tiny-cache")
    except Exception as exc:  # an install or checkout without the embedded model
        pytest.skip(f"gossamer-tiny unavailable: {exc}")
    env = cli_env(store_env)
    child = spawn_run(env, "--temperature", "0")
    child.sendline("What is the capital of France?")
    text = turn(child)
    assert "Thinking..." in text and "...done thinking." in text
    answer = text.split("...done thinking.", 1)[1].strip()
    assert answer  # the model's reply, whatever the small model says
    leave(child)
