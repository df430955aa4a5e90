"""Run the `gossamer` command as a user would: a child process, its exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "GOSSAMER_"))}
    env.update(
        HF_HOME=str(home / "hf"),
        GOSSAMER_HOME=str(home / "gossamer"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
        NO_COLOR="1",
        # Nothing listens here unless a test says so: `run` must not find a stray server.
        GOSSAMER_HOST="http://127.0.0.1:9",
    )
    env.update(extra)
    return env


def gossamer(
    *args: str, env: dict[str, str], input: str | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gossamer.cli", *args],
        env=env,
        cwd=REPO_ROOT,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
