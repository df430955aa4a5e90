"""A server process with the built-in tools over a scripted engine, for restart tests.

`python tests/tools/tool_harness.py --port P --index FILE` serves the app on 127.0.0.1 with the
browser (local backend over FILE) and python; the store is $GOSSAMER_RESPONSES_STORE. Each
engine step takes 20 ms, so a test can kill the process in the middle of a tool loop.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--index", required=True)
    args = parser.parse_args()
    import uvicorn

    from gossamer.harmony.tokenizer import load_harmony_encoding
    from gossamer.server.app import create_app
    from gossamer.server.settings import ServerSettings
    from gossamer.server.state import ServerState
    from gossamer.testing.scripted_engine import ScriptedEngine
    from gossamer.testing.tool_script import builtin_tool_script

    settings = ServerSettings(tools=["browser"], browser_index=args.index, browser_fetch=False)
    engine = ScriptedEngine(builtin_tool_script, max_context_length=16384, step_delay_s=0.02)
    state = ServerState(
        engine=engine, encoding=load_harmony_encoding(), model_name="gpt-oss-20b", settings=settings
    )
    uvicorn.run(create_app(state), host="127.0.0.1", port=args.port, log_level="warning")


@contextmanager
def serve(store: Path, index: Path, port: int) -> Iterator[subprocess.Popen]:
    from tests.server.responses_harness import wait_healthy  # here: the script itself needs none of it

    env = {**os.environ, "GOSSAMER_RESPONSES_STORE": str(store), "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
    command = [sys.executable, __file__, "--port", str(port), "--index", str(index)]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, 60)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
