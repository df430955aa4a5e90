"""The chat page's static files, under content-hashed names, ready to serve (gzipped too).

Each file is served as `/static/<path with its hash>` (`app.js` -> `/static/app.1f3a9c2e.js`) so the
browser may keep it for a year; `index.html` names them by their plain path (`{{app.js}}`) and is
served fresh. JavaScript modules import each other by relative path (`./api.js`): those specifiers
are rewritten to the hashed names, and a module's hash covers the hashed names it imports, so a
change anywhere gives new names to every module that depends on it (what a bundler's manifest
does, in forty lines and without Node).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
URL_PREFIX = "/static/"
INDEX = "index.html"

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
_IMPORT = re.compile(r"""(\bfrom\s*|\bimport\s*)(["'])\./([\w.-]+\.js)\2""")
_PLACEHOLDER = re.compile(r"\{\{\s*([\w./-]+)\s*\}\}")
_MIN_GZIP_BYTES = 512  # smaller files gain nothing worth the header


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


@dataclass(frozen=True)
class Bundle:
    index: Asset
    files: dict[str, Asset]  # by the path after /static/, hashed name included
    urls: dict[str, str]  # plain path -> its URL


def _asset(body: bytes, suffix: str) -> Asset:
    gzipped = gzip.compress(body, 9, mtime=0) if len(body) >= _MIN_GZIP_BYTES else None
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    return Asset(body, gzipped, _MEDIA_TYPES.get(suffix, "application/octet-stream"), etag)


def _hashed(path: str, body: bytes) -> str:
    stem, dot, suffix = path.rpartition(".")
    return f"{stem}.{hashlib.sha256(body).hexdigest()[:10]}{dot}{suffix}"


def build(static_dir: Path = STATIC_DIR) -> Bundle:
    sources = {
        p.relative_to(static_dir).as_posix(): p.read_bytes()
        for p in sorted(static_dir.rglob("*"))
        if p.is_file() and p.suffix in _MEDIA_TYPES and p.name != INDEX
    }
    names: dict[str, str] = {}  # plain path -> hashed path
    bodies: dict[str, bytes] = {}

    def resolve(path: str, visiting: tuple[str, ...] = ()) -> str:
        if path in names:
            return names[path]
        if path in visiting:
            raise ValueError(f"import cycle through {path}")
        body = sources[path]
        if path.endswith(".js") and "/" not in path:  # the page's own modules (vendor files are scripts)

            def rewrite(match: re.Match[str]) -> str:
                target = resolve(match.group(3), (*visiting, path))
                return f"{match.group(1)}{match.group(2)}./{target}{match.group(2)}"

            body = _IMPORT.sub(rewrite, body.decode()).encode()
        names[path] = _hashed(path, body)
        bodies[names[path]] = body
        return names[path]

    for path in sources:
        resolve(path)
    urls = {path: URL_PREFIX + hashed for path, hashed in names.items()}

    def url(match: re.Match[str]) -> str:
        return urls[match.group(1)]  # a KeyError here is a typo in index.html: fail loudly

    index = _PLACEHOLDER.sub(url, (static_dir / INDEX).read_text()).encode()
    files = {hashed: _asset(body, Path(hashed).suffix) for hashed, body in bodies.items()}
    return Bundle(_asset(index, ".html"), files, urls)


@cache
def bundle() -> Bundle:
    """Built once per process, at the first request for the page."""
    return build()
