"""`gossamer serve` on the embedded model, as its own process on 127.0.0.1, restartable on one store."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.server.responses_harness import free_port, wait_healthy

REPO = Path(__file__).resolve().parents[2]


@dataclass
class TinyServer:
    store: Path
    port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180.0) -> None:
        command = [
            sys.executable,
            "-m",
            "gossamer.server.main",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--responses-store",
            str(self.store),
            "--log-level",
            "warning",
            *self.extra_args,
        ]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        self.process = subprocess.Popen(command, cwd=REPO, env=env)
        wait_healthy(self.url, self.process, timeout_s)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # SIGTERM: uvicorn's graceful stop
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=10).json()
