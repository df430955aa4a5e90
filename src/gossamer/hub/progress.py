"""Pull progress: what the CLI's bars and `/api/pull`'s stream report."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gossamer.hub.verify import RemoteFile


@dataclass(frozen=True)
class PullProgress:
    status: str  # "pulling manifest" | "downloading" | "verifying" | "success"
    completed: int = 0  # bytes
    total: int = 0
    file: str | None = None


class ProgressWatcher:
    """Reports bytes on disk (finished files plus `.incomplete` temporaries) every `interval_s`."""

    def __init__(
        self,
        storage: Path,
        snapshot: Path,
        files: list[RemoteFile],
        report: Callable[[PullProgress], None],
        interval_s: float = 0.25,
    ) -> None:
        self.storage, self.snapshot, self.files, self.report = storage, snapshot, files, report
        self.total = sum(f.size for f in files)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pull-progress", daemon=True)

    def bytes_on_disk(self) -> int:
        done = sum(f.size for f in self.files if (self.snapshot / f.path).is_file())
        partial = 0
        for tmp in (self.storage / "blobs").glob("*.incomplete"):
            with contextlib.suppress(FileNotFoundError):  # finished and renamed meanwhile
                partial += tmp.stat().st_size
        return min(done + partial, self.total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.report(PullProgress("downloading", self.bytes_on_disk(), self.total))

    def __enter__(self) -> ProgressWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
