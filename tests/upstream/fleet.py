"""A fleet for the tests: Gossamer servers on the embedded model as upstreams, each its own process (so
that one can be killed for real), and a Gossamer front over them in a thread of this process (so that
the tests can look at its engine). Everything binds 127.0.0.1 on free ports.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gossamer.server.app import create_app
from gossamer.server.main import build_state
from gossamer.server.settings import ServerSettings
from gossamer.server.state import ServerState
from gossamer.upstream.engine import RemoteEngine
from tests.server.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
CONTEXT = 4096


@dataclass
class Replica:
    """One upstream Gossamer server process; `start` again after `kill` brings it back on its port."""

    port: int
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def label(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable, "-m", "gossamer.server.main",
            "--port", str(self.port),
            "--dtype", "float32",
            "--max-context-length", str(CONTEXT),
            "--kv-cache-memory-bytes", "64MiB",
            "--responses-store", ":memory:",
            "--log-level", "warning",
        ]  # fmt: skip
        # One thread each: three replicas and a front share this machine's cores.
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        }
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process is not None and self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the replica did not come up"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, its connections just drop."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def metric(self, name: str, labels: str = "") -> float:
        """One sample of this replica's /metrics (0 when absent)."""
        text = httpx.get(self.url + "/metrics", timeout=5).text
        return sample(text, name, labels)


def sample(text: str, name: str, labels: str = "") -> float:
    """A Prometheus sample: `name{labels}` (labels as written, in order) or `name` alone."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else r"(?:\{\})?") + r" (\S+)"
    match = re.search(r"^" + pattern + "$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@dataclass
class Front:
    url: str
    state: ServerState
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def engine(self) -> RemoteEngine:
        assert isinstance(self.state.engine, RemoteEngine)
        return self.state.engine

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_front(upstreams: list[str], store: Path, **settings: object) -> Front:
    port = free_port()
    config = ServerSettings(
        host="127.0.0.1",
        port=port,
        upstream=upstreams,
        responses_store=str(store),
        **settings,  # type: ignore[arg-type]
    )
    state = build_state(config)
    server, thread = serve_in_thread(create_app(state), port)
    return Front(f"http://127.0.0.1:{port}", state, server, thread)


def serve_in_thread(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """uvicorn on 127.0.0.1:port in a daemon thread with its own event loop, once it accepts connections."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True, name=f"server-{port}")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, f"the server on port {port} did not start"
        time.sleep(0.02)
    return server, thread


@dataclass
class Fleet:
    replicas: list[Replica]
    front: Front
    extra: dict[str, object] = field(default_factory=dict)

    def by_label(self, label: str) -> Replica:
        return next(r for r in self.replicas if r.label == label)

    def completions_served(self) -> dict[str, float]:
        """Each replica's count of answered /v1/completions (what the front sends it)."""
        return {
            r.label: r.metric("gossamer_http_requests_total", 'route="/v1/completions",status="200"')
            for r in self.replicas
        }


@contextmanager
def fleet(tmp: Path, num_replicas: int = 3, health_interval_s: float = 0.5) -> Iterator[Fleet]:
    replicas = [Replica(free_port(), tmp / f"replica-{i}.log") for i in range(num_replicas)]
    front = None
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready()
        front = start_front(
            [r.url for r in replicas], tmp / "front.sqlite3", upstream_health_interval_s=health_interval_s
        )
        yield Fleet(replicas, front)
    finally:
        if front is not None:
            front.stop()
        for replica in replicas:
            replica.stop()
