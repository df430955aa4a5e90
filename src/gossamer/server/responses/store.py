"""Durable response store: SQLite in gossamer's data directory, one lock, WAL journal.

Each response keeps its object (JSON) and its items in order: the request's input items and
the model's output items. A `previous_response_id` chain is rebuilt from the items of every
ancestor, so function calls, their outputs and reasoning come back exactly as they were.
Every response belongs to a tenant (a digest of the API key that made it; "" without keys):
reads, chains, item references and deletes only see the caller's own.

A store that cannot be opened or written (read-only or full disk) raises `StoreUnavailable`
with a message for the client, never a bare sqlite3 error.

SQLite work here is short (one row per response, a few per item) and runs under one lock on a
single connection, which keeps concurrent requests safe without a pool; WAL lets a second
process (a restarted server) read while the first still holds the file.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MEMORY = ":memory:"
STORE_FILENAME = "responses.sqlite3"
MAX_CHAIN_DEPTH = 10_000  # a guard against a cycle; real chains are far shorter

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    previous_response_id TEXT,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    tenant TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS items (
    response_id TEXT NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('input', 'output')),
    position INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (response_id, role, position)
);
CREATE INDEX IF NOT EXISTS items_by_item_id ON items(item_id);
"""

# The ancestors of a response (depth 0 is the response itself), each with the previous id it names;
# another tenant's response ends the chain as if it were missing.
_CHAIN_CTE = """
WITH RECURSIVE chain(id, previous_id, depth) AS (
    SELECT id, previous_response_id, 0 FROM responses WHERE id = ?1 AND tenant = ?3
    UNION ALL
    SELECT r.id, r.previous_response_id, c.depth + 1
    FROM responses r JOIN chain c ON r.id = c.previous_id
    WHERE c.depth < ?2 AND r.tenant = ?3
)
"""
_CHAIN_SQL = _CHAIN_CTE + "SELECT id, previous_id, depth FROM chain ORDER BY depth"
_CHAIN_ITEMS_SQL = _CHAIN_CTE + (
    "SELECT items.body FROM items JOIN chain ON items.response_id = chain.id "
    "ORDER BY chain.depth DESC, items.role = 'output', items.position"
)


def data_dir() -> Path:
    """Gossamer's state: $GOSSAMER_HOME, else $XDG_DATA_HOME/gossamer, else ~/.local/share/gossamer."""
    if home := os.environ.get("GOSSAMER_HOME"):
        return Path(home)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "gossamer"


def default_store_path() -> str | Path:
    """$GOSSAMER_RESPONSES_STORE (a file, or ":memory:"), else responses.sqlite3 in the data directory."""
    return os.environ.get("GOSSAMER_RESPONSES_STORE") or data_dir() / STORE_FILENAME


class StoreUnavailable(Exception):
    """The store cannot be opened or written; `full` when the disk is out of space (HTTP 507)."""

    def __init__(self, message: str, *, full: bool = False) -> None:
        super().__init__(message)
        self.full = full


def _unavailable(path: str, exc: BaseException) -> StoreUnavailable:
    text = str(exc)
    full = "full" in text or getattr(exc, "errno", None) == errno.ENOSPC
    why = "its disk is full" if full else f"{text}"
    return StoreUnavailable(f"The response store ({path}) cannot be written: {why}.", full=full)


class ChainBroken(KeyError):
    """A response of a previous_response_id chain is missing (never stored, or deleted)."""

    def __init__(self, response_id: str) -> None:
        super().__init__(response_id)
        self.response_id = response_id


class ResponseStore:
    def __init__(self, path: str | Path | None = None) -> None:
        path = default_store_path() if path is None else path
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            if self.path != MEMORY:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # One connection shared under the lock; check_same_thread=False because FastAPI may call
            # from the event loop thread or a worker thread.
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            with self._lock:
                if self.path != MEMORY:
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    # FULL: a response the client was told about survives even a power cut (one
                    # fsync per response, negligible beside generating it).
                    self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.execute("PRAGMA foreign_keys=ON")
                self._conn.execute("PRAGMA busy_timeout=5000")
                self._conn.executescript(_SCHEMA)
                _add_tenant_column(self._conn)
        except (OSError, sqlite3.Error) as exc:
            raise _unavailable(self.path, exc) from exc
        logger.info("response store: %s", self.path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for sql, args in statements:
                        self._conn.execute(sql, args)
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except (OSError, sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
                raise _unavailable(self.path, exc) from exc

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except (OSError, sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
                raise _unavailable(self.path, exc) from exc

    # Other tables in the same file (the Conversations API's) go through the same connection and
    # lock: one writer per file, and a failure reads as StoreUnavailable there too.
    write = _write
    read = _read

    # -- writes -------------------------------------------------------------------------------

    def save(
        self, response: dict[str, Any], input_items: list[dict[str, Any]] | None = None, tenant: str = ""
    ) -> None:
        """Insert or update a response with its output items (and its input items when given)."""
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO responses (id, created_at, previous_response_id, status, body, tenant) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET status = excluded.status, body = excluded.body",
                (
                    response["id"],
                    response["created_at"],
                    response.get("previous_response_id"),
                    response["status"],
                    json.dumps(response),
                    tenant,
                ),
            ),
            ("DELETE FROM items WHERE response_id = ? AND role = 'output'", (response["id"],)),
        ]
        statements += _item_rows(response["id"], "output", response["output"])
        if input_items is not None:
            statements.append(
                ("DELETE FROM items WHERE response_id = ? AND role = 'input'", (response["id"],))
            )
            statements += _item_rows(response["id"], "input", input_items)
        self._write(statements)

    def delete(self, response_id: str, tenant: str = "") -> bool:
        with self._lock:
            try:
                cursor = self._conn.execute(
                    "DELETE FROM responses WHERE id = ? AND tenant = ?", (response_id, tenant)
                )
            except (OSError, sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
                raise _unavailable(self.path, exc) from exc
            return cursor.rowcount > 0

    def fail_interrupted(self) -> int:
        """Mark responses a previous server process left queued or in progress as failed."""
        rows = self._read("SELECT body, tenant FROM responses WHERE status IN ('queued', 'in_progress')")
        for body, tenant in rows:
            response = json.loads(body)
            response["status"] = "failed"
            response["error"] = {
                "code": "server_error",
                "message": "The server restarted before it finished.",
            }
            self.save(response, tenant=tenant)
        return len(rows)

    # -- reads --------------------------------------------------------------------------------

    def get(self, response_id: str, tenant: str = "") -> dict[str, Any] | None:
        rows = self._read("SELECT body FROM responses WHERE id = ? AND tenant = ?", (response_id, tenant))
        return json.loads(rows[0][0]) if rows else None

    def get_item(self, item_id: str, tenant: str = "") -> dict[str, Any] | None:
        rows = self._read(
            "SELECT items.body FROM items JOIN responses ON responses.id = items.response_id "
            "WHERE items.item_id = ? AND responses.tenant = ? LIMIT 1",
            (item_id, tenant),
        )
        return json.loads(rows[0][0]) if rows else None

    def conversation(self, response_id: str, tenant: str = "") -> list[dict[str, Any]]:
        """Input and output items of `response_id` and all its ancestors, oldest first.

        One recursive query under the lock: the chain is read as one consistent snapshot.
        """
        args = (response_id, MAX_CHAIN_DEPTH, tenant)
        chain = self._read(_CHAIN_SQL, args)
        if not chain:
            raise ChainBroken(response_id)
        _, oldest_previous, depth = chain[-1]
        if oldest_previous is not None:
            if depth >= MAX_CHAIN_DEPTH:
                raise ValueError(f"the previous_response_id chain of {response_id} does not end")
            raise ChainBroken(oldest_previous)
        rows = self._read(_CHAIN_ITEMS_SQL, args)
        return [json.loads(body) for (body,) in rows]

    def input_items(
        self,
        response_id: str,
        *,
        tenant: str = "",
        limit: int = 20,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of a response's input items and whether more follow (OpenAI's cursor rules)."""
        rows = self._read(
            "SELECT items.item_id, items.body FROM items JOIN responses ON responses.id = items.response_id "
            "WHERE items.response_id = ? AND responses.tenant = ? AND items.role = 'input' "
            "ORDER BY items.position",
            (response_id, tenant),
        )
        ids = [item_id for item_id, _ in rows]
        bodies = [body for _, body in rows]
        if order == "desc":
            ids.reverse()
            bodies.reverse()
        start, stop = 0, len(ids)
        if after is not None and after in ids:
            start = ids.index(after) + 1
        if before is not None and before in ids:
            stop = ids.index(before)
        page = bodies[start:stop]
        return [json.loads(body) for body in page[:limit]], len(page) > limit


def _add_tenant_column(conn: sqlite3.Connection) -> None:
    """Stores written before tenants existed: every response they hold is the keyless tenant's."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(responses)")}
    if "tenant" not in columns:
        conn.execute("ALTER TABLE responses ADD COLUMN tenant TEXT NOT NULL DEFAULT ''")


def _item_rows(response_id: str, role: str, items: list[dict[str, Any]]) -> list[tuple[str, tuple[Any, ...]]]:
    return [
        (
            "INSERT INTO items (response_id, role, position, item_id, body) VALUES (?, ?, ?, ?, ?)",
            (response_id, role, position, item["id"], json.dumps(item)),
        )
        for position, item in enumerate(items)
    ]
