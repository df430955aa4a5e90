"""A server for this process alone: `gossamer run` uses it when no server is up.

Running the model behind the same HTTP API (on 127.0.0.1, a free port, in a background thread)
means the terminal chat has one code path whether or not a server was already running.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass

from gossamer.errors import GossamerError

logger = logging.getLogger(__name__)


@dataclass
class PrivateServer:
    url: str
    _server: object
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True  # type: ignore[attr-defined]
        self._thread.join(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_private_server(
    model: str | None,
    *,
    served_model_name: str | None,
    device: str = "cpu",
    dtype: str = "bfloat16",
    max_context_length: int | None = None,
) -> PrivateServer:
    import uvicorn

    from gossamer.server.app import create_app
    from gossamer.server.main import build_state
    from gossamer.server.settings import ServerSettings

    port = _free_port()
    settings = ServerSettings(
        model=model,
        served_model_name=served_model_name,
        host="127.0.0.1",
        port=port,
        device=device,
        dtype=dtype,
        max_context_length=max_context_length,
        max_concurrent_requests=4,
        log_level="warning",
    )
    state = build_state(settings)
    app = create_app(state)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="gossamer-private-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive():
            raise GossamerError("the in-process server failed to start (run with -v for details)")
        if time.monotonic() > deadline:
            raise GossamerError("the in-process server did not start within 120 s")
        time.sleep(0.05)
    return PrivateServer(f"http://127.0.0.1:{port}", server, thread)
