"""gossamer-tiny: a small gpt-oss trained on harmony conversations, shipped inside the package.

`model_path()` unpacks the bundled checkpoint (Hugging Face layout) into gossamer's cache on first
use and returns its directory; later calls return the same directory without touching it.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from gossamer.errors import CheckpointError

TINY_MODEL_NAME = "gossamer-tiny"
ARCHIVE = Path(__file__).resolve().parent.parent / "data" / "gossamer-tiny.tar.xz"
_STAMP = ".archive-sha256"


def _cache_root() -> Path:
    return Path(os.environ.get("GOSSAMER_HOME") or Path.home() / ".cache" / "gossamer")


def _archive_digest(archive: Path) -> str:
    return hashlib.sha256(archive.read_bytes()).hexdigest()


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    # Python before 3.11.4 (Debian 12 ships 3.11.2) has no extraction filters: the archive is our
    # own, but still take only plain files and folders that stay inside `dest`.
    for member in tar.getmembers():
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in member.name:
            raise tarfile.TarError(f"unexpected archive member {member.name!r}")
    tar.extractall(dest)


def model_path(cache_dir: Path | None = None) -> Path:
    """Directory of the unpacked gossamer-tiny checkpoint (config.json, model.safetensors, ...).

    The directory is stamped with the archive's sha256, so a newer bundled model replaces an
    older unpacked one; unpacking goes to a temporary sibling and is renamed into place, so
    concurrent first calls never see a half-written checkpoint.
    """
    if not ARCHIVE.is_file():
        raise CheckpointError(
            f"the bundled {TINY_MODEL_NAME} archive is missing ({ARCHIVE}); reinstall gossamer"
        )
    target = (cache_dir or _cache_root() / "models") / TINY_MODEL_NAME
    digest = _archive_digest(ARCHIVE)
    stamp = target / _STAMP
    if stamp.is_file() and stamp.read_text().strip() == digest and (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{TINY_MODEL_NAME}-", dir=target.parent))
    try:
        data = lzma.decompress(ARCHIVE.read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            _extract(tar, staging)
        (staging / _STAMP).write_text(digest + "\n")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            # Another process won the race; its copy comes from the same archive.
            if not (target / _STAMP).is_file():
                raise
    except (OSError, lzma.LZMAError, tarfile.TarError) as exc:
        raise CheckpointError(f"could not unpack {TINY_MODEL_NAME} into {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


__all__ = ["TINY_MODEL_NAME", "model_path"]
