"""Resumable download of one large (LFS) file into the Hugging Face cache layout.

huggingface_hub (2.4) resumes a download cut mid-file only within the same call: each call writes
to a fresh temporary and deletes it on failure, so a pull stopped with Ctrl-C or a crash restarts a
multi-GB shard from zero. Weights are fetched here instead, into `blobs/<sha256>.incomplete`, which
survives; the next pull asks for the rest with a Range request. The file is hashed while it
streams and only moved to `blobs/<sha256>` (and linked from the snapshot, as huggingface_hub does)
once its sha256 matches the hub's.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx

from gossamer.errors import GossamerError
from gossamer.hub.errors import ChecksumError, OfflineError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
MAX_RETRIES = 5  # consecutive failures without progress before giving up


def link_into_snapshot(blob: Path, pointer: Path) -> None:
    """The cache's snapshot entry: a relative symlink to the blob (a copy where links are not allowed)."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    try:
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    except OSError:
        import shutil

        shutil.copyfile(blob, pointer)


def _hash_existing(path: Path) -> tuple[hashlib._Hash, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(8 * CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest, size


def fetch_lfs_file(
    *,
    endpoint: str,
    repo_id: str,
    commit: str,
    path: str,
    size: int,
    sha256: str,
    storage: Path,
    headers: dict[str, str],
    timeout_s: float = 30.0,
    on_bytes: Callable[[int], None] | None = None,
) -> Path:
    """Fetch `path` of `repo_id@commit` into `storage` (`models--owner--name`); return its snapshot path."""
    blob = storage / "blobs" / sha256
    pointer = storage / "snapshots" / commit / path
    if blob.is_file() and blob.stat().st_size == size:
        if not pointer.exists():
            link_into_snapshot(blob, pointer)
        return pointer
    blob.parent.mkdir(parents=True, exist_ok=True)
    partial = blob.with_name(sha256 + ".incomplete")
    digest, offset = hashlib.sha256(), 0
    if partial.is_file():
        if partial.stat().st_size > size:
            partial.unlink()
        else:
            digest, offset = _hash_existing(partial)
            logger.info("resuming %s at %d of %d bytes", path, offset, size)
    url = f"{endpoint}/{repo_id}/resolve/{commit}/{quote(path)}"
    failures = 0
    with (
        httpx.Client(follow_redirects=True, timeout=httpx.Timeout(timeout_s)) as client,
        partial.open("ab") as f,
    ):
        while offset < size:
            request_headers = dict(headers)
            if offset:
                request_headers["Range"] = f"bytes={offset}-"
            try:
                with client.stream("GET", url, headers=request_headers) as response:
                    if response.status_code == 200 and offset:
                        # The server ignored the Range: start over rather than append the start twice.
                        f.truncate(0)
                        digest, offset = hashlib.sha256(), 0
                    elif response.status_code not in (200, 206):
                        response.read()
                        status, text = response.status_code, response.text[:200]
                        raise GossamerError(f"the hub refused {repo_id}/{path}: HTTP {status} {text}")
                    for chunk in response.iter_bytes(CHUNK_BYTES):
                        f.write(chunk)
                        digest.update(chunk)
                        offset += len(chunk)
                        failures = 0
                        if on_bytes is not None:
                            on_bytes(len(chunk))
            except httpx.TransportError as exc:
                failures += 1
                f.flush()
                if failures > MAX_RETRIES:
                    raise OfflineError(
                        f"the download of {repo_id} was interrupted at {path} ({exc}); {offset} of {size} "
                        f"bytes are kept: run `gossamer pull {repo_id}` again to resume."
                    ) from exc
                logger.warning("%s: %s; resuming at byte %d", path, exc, offset)
                time.sleep(min(0.2 * 2**failures, 5.0))
    if offset != size or digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumError(
            f"{path} is corrupt: its checksum is {digest.hexdigest()}, the hub says {sha256}. "
            "The file was deleted; run the pull again to fetch it anew."
        )
    os.replace(partial, blob)
    link_into_snapshot(blob, pointer)
    return pointer
