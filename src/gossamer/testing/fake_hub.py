"""A local stand-in for the Hugging Face hub, served over HTTP on 127.0.0.1 for tests.

It implements the part of the hub API that `huggingface_hub`'s `snapshot_download` and
`hf_hub_download` use (checked against huggingface_hub 2.4's `hf_api.py` and `file_download.py`):

- `GET /api/models/{repo}/revision/{rev}`: model info with `sha` and `siblings` (with `?blobs=true`
  each sibling carries `size`, `blobId` and, for LFS files, `lfs.sha256`).
- `GET /api/models/{repo}/tree/{rev}[/{path}]`: the recursive file listing.
- `HEAD`/`GET /{repo}/resolve/{rev}/{file}`: the file, with `X-Repo-Commit`, `ETag` (the sha256 for
  LFS files, the git blob sha1 otherwise), `X-Linked-Etag`/`X-Linked-Size` for LFS files,
  `Content-Length`, and `Range` support so that an interrupted download resumes.

Xet storage is never announced (no xet headers, no `xetHash`), so clients download over plain HTTP.

Faults for tests: `cut_after[file] = (num_bytes, times)` closes the connection after `num_bytes`
of the body on the next `times` full GETs of that file; `corrupt` serves flipped bytes for the named
files (same length, wrong checksum); `offline` drops every connection (`offline_after_cut`: from
the first cut on). `requests` records `(method, path, range header)` of each request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

# Files at least this large, and all weight files, are stored as LFS objects on the real hub.
_LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".tiktoken")
_LFS_MIN_BYTES = 10 * 1024 * 1024


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file: the hub's `blobId`, and the ETag of a non-LFS file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeFile:
    path: str
    data: bytes

    @property
    def is_lfs(self) -> bool:
        return self.path.endswith(_LFS_SUFFIXES) or len(self.data) >= _LFS_MIN_BYTES

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def etag(self) -> str:
        return self.sha256 if self.is_lfs else git_blob_sha1(self.data)

    def sibling_json(self) -> dict:
        out: dict = {"rfilename": self.path, "size": len(self.data), "blobId": git_blob_sha1(self.data)}
        if self.is_lfs:
            out["lfs"] = {"size": len(self.data), "sha256": self.sha256, "pointerSize": 134}
        return out

    def tree_json(self) -> dict:
        out: dict = {"type": "file", "path": self.path, "size": len(self.data)}
        out["oid"] = git_blob_sha1(self.data)
        if self.is_lfs:
            out["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": 134}
        return out


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, FakeFile]
    commit: str = ""

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1()
            for name in sorted(self.files):
                digest.update(name.encode() + b"\0" + self.files[name].sha256.encode())
            self.commit = digest.hexdigest()


@dataclass
class FakeHub:
    """Holds the repos and the fault settings; `start()` serves them on a free port of 127.0.0.1."""

    repos: dict[str, FakeRepo] = field(default_factory=dict)
    cut_after: dict[str, tuple[int, int]] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    # offline: drop every connection unanswered; offline_after_cut: go offline at the first cut
    # (the network is lost, as opposed to one flaky connection).
    offline: bool = False
    offline_after_cut: bool = False
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> FakeRepo:
        repo = FakeRepo(repo_id, {name: FakeFile(name, data) for name, data in files.items()})
        self.repos[repo_id] = repo
        return repo

    def add_directory(self, repo_id: str, directory: str | Path) -> FakeRepo:
        """Serve every file under `directory` (recursively) as the repo's contents."""
        root = Path(directory)
        paths = [p for p in sorted(root.rglob("*")) if p.is_file()]
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in paths}
        return self.add_repo(repo_id, files)

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake hub is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def file_requests(self, path: str, method: str = "GET") -> list[str | None]:
        """The Range headers of each `method` request for one repo file (None: the whole file)."""
        return [rng for m, p, rng in self.requests if m == method and p.endswith("/" + path)]

    def _take_cut(self, path: str) -> int | None:
        with self._lock:
            if path not in self.cut_after:
                return None
            num_bytes, times = self.cut_after[path]
            if self.offline_after_cut:
                self.offline = True
            if times <= 1:
                del self.cut_after[path]
            else:
                self.cut_after[path] = (num_bytes, times - 1)
            return num_bytes


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<sub>.+))?$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("fake hub: " + format, *args)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _dispatch(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.fake.requests.append((self.command, path, self.headers.get("Range")))
        if self.fake.offline:
            self.close_connection = True
            return
        if m := _RESOLVE.match(path):
            self._resolve(m["repo"], m["rev"], m["file"], head)
        elif m := _TREE.match(path):
            self._tree(m["repo"], m["rev"], m["sub"])
        elif m := _INFO.match(path):
            self._info(m["repo"], m["rev"] or "main")
        else:
            self._error(404, "Not found", None)

    def _repo(self, repo_id: str, rev: str) -> FakeRepo | None:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
            return None
        if rev not in ("main", repo.commit):
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return None
        return repo

    def _info(self, repo_id: str, rev: str) -> None:
        if (repo := self._repo(repo_id, rev)) is None:
            return
        body = {
            "id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False, "gated": False,
            "tags": ["safetensors", "gpt_oss"], "library_name": "transformers",
            "siblings": [f.sibling_json() for f in repo.files.values()],
        }
        self._json(200, body)

    def _tree(self, repo_id: str, rev: str, sub: str | None) -> None:
        if (repo := self._repo(repo_id, rev)) is None:
            return
        prefix = (sub.rstrip("/") + "/") if sub else ""
        entries = [f.tree_json() for name, f in repo.files.items() if name.startswith(prefix)]
        self._json(200, entries)

    def _resolve(self, repo_id: str, rev: str, name: str, head: bool) -> None:
        if (repo := self._repo(repo_id, rev)) is None:
            return
        file = repo.files.get(name)
        if file is None:
            self._error(404, f"Entry not found: {name}", "EntryNotFound", commit=repo.commit)
            return
        data = file.data
        if name in self.fake.corrupt:
            data = bytes(b ^ 0xFF for b in data)
        start, end = 0, len(data) - 1
        status = 200
        if (rng := self.headers.get("Range")) and (m := _RANGE.match(rng.strip())):
            start = int(m[1])
            end = int(m[2]) if m[2] else end
            status = 206
        headers = {
            "X-Repo-Commit": repo.commit,
            "ETag": f'"{file.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if file.is_lfs:
            headers["X-Linked-Etag"] = f'"{file.etag}"'
            headers["X-Linked-Size"] = str(len(data))
        body = data[start : end + 1]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        cut = self.fake._take_cut(name)
        if cut is not None and cut < len(body):
            # Promise the whole body, send part of it, and drop the connection: a network cut.
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _json(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def _error(self, status: int, message: str, code: str | None, commit: str | None = None) -> None:
        raw = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)
