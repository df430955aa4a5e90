"""Where replayed reasoning is kept: a table in the server's SQLite store, bounded by age and size.

It lives in the same database file as stored Responses (its own connection, WAL), so one state
folder holds everything the server keeps. It is a cache: commits do not wait for an fsync
(`synchronous=NORMAL`), and what is older than `max_age_s`, or beyond `max_bytes` of reasoning
(oldest first), is dropped.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

MEMORY = ":memory:"
PRUNE_EVERY = 64  # writes between two prunes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reasoning_replay (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    reasoning TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX IF NOT EXISTS reasoning_replay_by_age ON reasoning_replay(created_at);
"""
_TOTAL_BYTES = "SELECT COALESCE(SUM(LENGTH(CAST(reasoning AS BLOB))), 0) FROM reasoning_replay"


class ReplayStore:
    def __init__(
        self,
        path: str | Path,
        *,
        max_age_s: float = 7 * 24 * 3600.0,
        max_bytes: int = 256 << 20,
        clock=time.time,
    ) -> None:
        self.path = str(path)
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._clock = clock
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._num_writes = 0
        with self._lock:
            if self.path != MEMORY:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def remember(self, keys: list[str], reasoning: str, tenant: str) -> None:
        if not keys or len(reasoning.encode("utf-8", "surrogatepass")) > self.max_bytes:
            return
        now = self._clock()
        rows = [(tenant, key, reasoning, now) for key in keys]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO reasoning_replay (tenant, key, reasoning, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._num_writes += 1
            if self._num_writes % PRUNE_EVERY == 0:
                self._prune(now)

    def recall(self, keys: list[str], tenant: str) -> str | None:
        if not keys:
            return None
        marks = ",".join("?" * len(keys))
        oldest = self._clock() - self.max_age_s
        with self._lock:
            row = self._conn.execute(
                f"SELECT reasoning FROM reasoning_replay WHERE tenant = ? AND key IN ({marks}) "
                "AND created_at >= ? ORDER BY created_at DESC LIMIT 1",
                (tenant, *keys, oldest),
            ).fetchone()
        return row[0] if row else None

    def prune(self) -> None:
        with self._lock:
            self._prune(self._clock())

    def _prune(self, now: float) -> None:
        """Drop what is too old, then the oldest rows until the reasoning kept fits max_bytes."""
        self._conn.execute("DELETE FROM reasoning_replay WHERE created_at < ?", (now - self.max_age_s,))
        (total,) = self._conn.execute(_TOTAL_BYTES).fetchone()
        if total <= self.max_bytes:
            return
        excess = total - self.max_bytes
        cutoff = self._conn.execute(
            "SELECT created_at FROM (SELECT created_at, SUM(LENGTH(CAST(reasoning AS BLOB))) OVER "
            "(ORDER BY created_at ROWS UNBOUNDED PRECEDING) AS running FROM reasoning_replay) "
            "WHERE running >= ? ORDER BY created_at LIMIT 1",
            (excess,),
        ).fetchone()
        if cutoff is not None:
            self._conn.execute("DELETE FROM reasoning_replay WHERE created_at <= ?", cutoff)
        logger.info("reasoning replay store pruned to %d bytes", self.max_bytes)
