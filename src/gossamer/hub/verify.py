"""Check downloaded files against the hub's checksums: the LFS sha256, or the git blob sha1 of small files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gossamer.hub.errors import ChecksumError
from gossamer.hub.progress import PullProgress


@dataclass(frozen=True)
class RemoteFile:
    """What the hub says about one file: its size and checksum."""

    path: str
    size: int
    sha256: str | None  # LFS files
    blob_id: str | None  # git sha1 of the contents


def _file_digest_ok(path: Path, remote: RemoteFile) -> tuple[bool, str]:
    if remote.sha256:
        digest = hashlib.sha256()
        expected = remote.sha256
    elif remote.blob_id:
        digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
        expected = remote.blob_id
    else:
        return True, ""
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    actual = digest.hexdigest()
    return actual == expected, actual


def verify_files(
    snapshot: Path,
    files: list[RemoteFile],
    verified: dict[str, list[int]],
    report: Callable[[PullProgress], None],
) -> dict[str, list[int]]:
    """Hash each file not yet verified; delete and raise on a mismatch. Returns {path: [size, mtime_ns]}."""
    total = sum(f.size for f in files)
    done = 0
    out: dict[str, list[int]] = {}
    for remote in files:
        local = snapshot / remote.path
        blob = local.resolve()
        stat = blob.stat()
        key = [stat.st_size, stat.st_mtime_ns]
        report(PullProgress("verifying", done, total, remote.path))
        if verified.get(remote.path) != key:
            ok, actual = _file_digest_ok(blob, remote)
            if not ok:
                blob.unlink(missing_ok=True)
                local.unlink(missing_ok=True)
                expected = remote.sha256 or remote.blob_id
                raise ChecksumError(
                    f"{remote.path} is corrupt: its checksum is {actual}, the hub says {expected}. "
                    "The file was deleted; run the pull again to fetch it anew."
                )
        out[remote.path] = key
        done += remote.size
    report(PullProgress("verifying", total, total))
    return out
