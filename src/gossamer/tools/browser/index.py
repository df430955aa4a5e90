"""The local search index: documents from folders on this machine in SQLite, searched with FTS5.

`gossamer index add PATH` converts each HTML, Markdown, text or PDF file into the page the browser
shows (text with numbered links) and keeps it with a plain-text copy for full-text search (FTS5,
BM25 ranking, Porter stemming). Adding a folder again updates it: changed files (size or mtime)
are converted again, vanished ones removed, unchanged ones skipped. The browser reads pages from
the index, never from the files: the model can open only what the operator indexed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gossamer.tools.browser.documents import DocumentError, kind_of, to_page
from gossamer.tools.browser.page import Page

logger = logging.getLogger(__name__)

INDEX_FILENAME = "browser-index.sqlite3"
MAX_FILE_BYTES = 32 << 20  # larger files are skipped (a 32 MB PDF is a book)
_LINK = re.compile(r"【\d+†([^†】]*)(?:†[^】]*)?】")
_WORD = re.compile(r"\w+", re.UNICODE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,      -- the page as the browser shows it (numbered links)
    plain TEXT NOT NULL,     -- the same without link markers: what FTS5 indexes
    links TEXT NOT NULL,     -- JSON {id: url}
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(
    title, plain, content='docs', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS docs_ai AFTER INSERT ON docs BEGIN
    INSERT INTO docs_fts(rowid, title, plain) VALUES (new.id, new.title, new.plain);
END;
CREATE TRIGGER IF NOT EXISTS docs_ad AFTER DELETE ON docs BEGIN
    INSERT INTO docs_fts(docs_fts, rowid, title, plain) VALUES ('delete', old.id, old.title, old.plain);
END;
CREATE TRIGGER IF NOT EXISTS docs_au AFTER UPDATE ON docs BEGIN
    INSERT INTO docs_fts(docs_fts, rowid, title, plain) VALUES ('delete', old.id, old.title, old.plain);
    INSERT INTO docs_fts(rowid, title, plain) VALUES (new.id, new.title, new.plain);
END;
"""


@dataclass
class AddReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0  # unreadable, too large, or not a document


@dataclass(frozen=True)
class IndexHit:
    url: str
    title: str
    snippet: str


def default_index_path() -> Path:
    from gossamer.server.responses.store import data_dir

    return data_dir() / INDEX_FILENAME


class LocalIndex:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    # -- building ----------------------------------------------------------------------------

    def add(self, root: str | Path, progress: Callable[[int, int, Path], None] | None = None) -> AddReport:
        """Index every document under `root` (a file or a folder); `progress(done, total, file)`."""
        root = Path(root).expanduser().resolve()
        if not root.exists():
            raise FileNotFoundError(f"{root} does not exist")
        files = sorted(_documents(root))
        report = AddReport()
        seen: set[str] = set()
        for done, path in enumerate(files, 1):
            url = path.as_uri()
            seen.add(url)
            self._add_file(path, url, report)
            if progress is not None:
                progress(done, len(files), path)
        report.removed = self._remove_missing(root, seen)
        return report

    def _add_file(self, path: Path, url: str, report: AddReport) -> None:
        try:
            stat = path.stat()
            if stat.st_size > MAX_FILE_BYTES:
                report.skipped += 1
                logger.info("skipped %s: %d bytes, more than %d", path, stat.st_size, MAX_FILE_BYTES)
                return
            with self._lock:
                row = self._conn.execute("SELECT size, mtime_ns FROM docs WHERE url = ?", (url,)).fetchone()
            if row is not None and tuple(row) == (stat.st_size, stat.st_mtime_ns):
                report.unchanged += 1
                return
            kind = kind_of(path.name)
            assert kind is not None
            page = to_page(path.read_bytes(), kind, url)
        except (OSError, DocumentError) as exc:
            report.skipped += 1
            logger.warning("skipped %s: %s", path, exc)
            return
        plain = _LINK.sub(r"\1", page.text)
        values = (
            str(path),
            page.title,
            page.text,
            plain,
            json.dumps(page.links),
            stat.st_size,
            stat.st_mtime_ns,
        )
        with self._lock, self._conn:
            if row is None:
                self._conn.execute(
                    "INSERT INTO docs (path, title, text, plain, links, size, mtime_ns, url) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, url),
                )
                report.added += 1
            else:
                self._conn.execute(
                    "UPDATE docs SET path = ?, title = ?, text = ?, plain = ?, links = ?, size = ?, "
                    "mtime_ns = ? WHERE url = ?",
                    (*values, url),
                )
                report.updated += 1

    def _remove_missing(self, root: Path, seen: set[str]) -> int:
        prefix = root.as_uri() + ("/" if root.is_dir() else "")
        with self._lock, self._conn:
            rows = self._conn.execute(
                "SELECT url FROM docs WHERE url = ? OR substr(url, 1, ?) = ?",
                (root.as_uri(), len(prefix), prefix),
            ).fetchall()
            gone = [url for (url,) in rows if url not in seen]
            self._conn.executemany("DELETE FROM docs WHERE url = ?", [(url,) for url in gone])
        return len(gone)

    # -- reading -----------------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM docs").fetchone()[0]

    def search(self, query: str, limit: int = 10) -> list[IndexHit]:
        words = _WORD.findall(query)
        if not words:
            return []
        # Any of the words (BM25 ranks documents with more and rarer ones first); each quoted, so
        # the model's text is never read as FTS5 syntax.
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words[:32])
        with self._lock:
            rows = self._conn.execute(
                "SELECT docs.url, docs.title, snippet(docs_fts, 1, '', '', '…', 24) "
                "FROM docs_fts JOIN docs ON docs.id = docs_fts.rowid "
                "WHERE docs_fts MATCH ? ORDER BY bm25(docs_fts, 5.0, 1.0) LIMIT ?",
                (match, limit),
            ).fetchall()
        return [IndexHit(url, title, " ".join(snippet.split())) for url, title, snippet in rows]

    def page(self, url: str) -> Page | None:
        with self._lock:
            row = self._conn.execute("SELECT title, text, links FROM docs WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        title, text, links = row
        return Page(url=url, title=title, text=text, links={int(k): v for k, v in json.loads(links).items()})


def _documents(root: Path) -> Iterator[Path]:
    if root.is_file():
        if kind_of(root.name) is not None:
            yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # .git, .venv, ...
        for name in files:
            if not name.startswith(".") and kind_of(name) is not None:
                yield Path(folder) / name
