"""Download a gpt-oss checkpoint from the hub into the standard Hugging Face cache, then verify it.

`huggingface_hub.snapshot_download` does the transfer (so the files land where transformers and vLLM
look for them, and a download cut mid-file is resumed with a Range request). It checks sizes but
not contents, so every file is then hashed and compared with the hub's own record: the LFS sha256
for weights, the git blob sha1 for small files. A file that does not match is deleted.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable
from pathlib import Path

from gossamer.errors import GossamerError
from gossamer.hub.errors import ChecksumError, OfflineError
from gossamer.hub.fetch import fetch_lfs_file
from gossamer.hub.inspect import check_complete
from gossamer.hub.progress import ProgressWatcher, PullProgress
from gossamer.hub.store import gossamer_home, manual_models_dir, pull_record, set_pull_record
from gossamer.hub.verify import RemoteFile, verify_files

logger = logging.getLogger(__name__)

# The files gossamer reads in each layout; the repos also hold `original/` and `metal/` copies
# of the weights that would double or triple the download.
HF_LAYOUT_FILES = (
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)
ORIGINAL_LAYOUT_FILES = (
    "original/config.json",
    "original/*.safetensors",
    "original/dtypes.json",
    "tokenizer.json",
)


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_cache_dir() -> Path:
    # Read at call time (huggingface_hub reads its constants once, at import).
    if env := os.environ.get("HF_HUB_CACHE"):
        return Path(env).expanduser()
    home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
    return Path(home).expanduser() / "hub"


def repo_storage_dir(repo_id: str) -> Path:
    return hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))


def _offline_message(repo_id: str, reason: str) -> str:
    manual = manual_models_dir() / repo_id
    return (
        f"cannot download {repo_id}: {reason}.\n"
        f"  - If a mirror of the Hugging Face hub is reachable, set HF_ENDPOINT=<its URL> and pull again.\n"
        f"  - Or copy the model files (config.json, *.safetensors, model.safetensors.index.json,\n"
        f"    tokenizer.json)"
        f" from a machine that has them into {manual}\n"
        f"    (or any directory, then `gossamer pull /that/directory` to register it)."
    )


def _network_errors() -> tuple[type[BaseException], ...]:
    """Connection failures of whichever HTTP library this huggingface_hub uses (httpx2 from 2.x on)."""
    errors: list[type[BaseException]] = []
    for module_name in ("httpx2", "httpx", "requests"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        if module_name == "requests":
            errors += [module.ConnectionError, module.Timeout]
        else:
            errors += [module.ConnectError, module.TimeoutException, module.RemoteProtocolError]
    return tuple(errors)


def _is_offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _select(files: list[RemoteFile], layout: str) -> list[RemoteFile]:
    patterns = ORIGINAL_LAYOUT_FILES if layout == "original" else HF_LAYOUT_FILES
    # Root files only for the HF layout ("*" would otherwise match "original/..." too).
    chosen = []
    for f in files:
        if layout != "original" and "/" in f.path:
            continue
        if any(fnmatch.fnmatchcase(f.path, p) for p in patterns):
            chosen.append(f)
    return chosen


def _fetch_file_list(repo_id: str, revision: str) -> tuple[str, list[RemoteFile]]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hub_endpoint()
    try:
        api = HfApi(endpoint=endpoint)
        info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=15)
    except GatedRepoError as exc:
        raise GossamerError(
            f"{repo_id} is gated on {endpoint}: accept its terms there and log in (`hf auth login`)"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise GossamerError(f"no model repository '{repo_id}' on {endpoint}") from exc
    except RevisionNotFoundError as exc:
        raise GossamerError(f"{repo_id} has no revision '{revision}' on {endpoint}") from exc
    except _network_errors() as exc:
        reason = f"the hub at {endpoint} is unreachable ({exc})"
        raise OfflineError(_offline_message(repo_id, reason)) from exc
    except HfHubHTTPError as exc:
        raise GossamerError(f"the hub at {endpoint} refused the request for {repo_id}: {exc}") from exc
    files = [
        RemoteFile(s.rfilename, s.lfs.size, s.lfs.sha256, s.blob_id)
        if s.lfs
        else RemoteFile(s.rfilename, s.size or 0, None, s.blob_id)
        for s in info.siblings or []
    ]
    if not info.sha:
        raise GossamerError(f"the hub at {endpoint} gave no commit for {repo_id}@{revision}")
    return info.sha, files


def _check_disk_space(storage: Path, files: list[RemoteFile]) -> None:
    """Fail before downloading rather than at 90% with a full disk."""
    import shutil

    missing = 0
    for f in files:
        blob = storage / "blobs" / (f.sha256 or f.blob_id or "")
        if blob.is_file():
            continue
        partial = blob.with_name(blob.name + ".incomplete")
        missing += f.size - (partial.stat().st_size if partial.is_file() else 0)
    existing = storage
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if missing > free:
        raise GossamerError(
            f"the download needs {missing / 2**30:.1f} GiB but {existing} has {free / 2**30:.1f} GiB free; "
            "free some space or point HF_HOME (or HF_HUB_CACHE) at a larger disk"
        )


def pull_repo(
    repo_id: str,
    *,
    revision: str = "main",
    layout: str = "hf",
    on_progress: Callable[[PullProgress], None] | None = None,
) -> Path:
    """Download the files of `layout` from `repo_id` into the HF cache; return the model directory."""
    if layout not in ("hf", "original"):
        raise GossamerError(f"unknown layout '{layout}': use 'hf' or 'original'")
    report = on_progress or (lambda p: None)
    if _is_offline_env():
        raise OfflineError(_offline_message(repo_id, "HF_HUB_OFFLINE is set"))
    report(PullProgress("pulling manifest"))
    commit, remote_files = _fetch_file_list(repo_id, revision)
    files = _select(remote_files, layout)
    names = {f.path for f in files}
    config_name = "original/config.json" if layout == "original" else "config.json"
    if config_name not in names:
        hint = ""
        if layout == "hf" and any(f.path == "original/config.json" for f in remote_files):
            hint = " (it has the original layout: pull with --layout original)"
        raise GossamerError(f"{repo_id} does not look like a gpt-oss checkpoint: no {config_name}{hint}")
    if not any(n.endswith(".safetensors") for n in names):
        raise GossamerError(f"{repo_id} has no *.safetensors weights in the {layout} layout")

    # Two pulls of one repo (two terminals, or the CLI and /api/pull) would append to the same partial file.
    from filelock import FileLock, Timeout

    lock_path = gossamer_home() / "locks" / (repo_id.replace("/", "--") + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock_path), timeout=0):
            return _download(repo_id, revision, layout, commit, files, report)
    except Timeout as exc:
        raise GossamerError(f"another pull of {repo_id} is running; wait for it to finish") from exc


def _download(
    repo_id: str,
    revision: str,
    layout: str,
    commit: str,
    files: list[RemoteFile],
    report: Callable[[PullProgress], None],
) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import build_hf_headers, disable_progress_bars

    storage = repo_storage_dir(repo_id)
    snapshot = storage / "snapshots" / commit
    previous = pull_record(repo_id) or {}
    verified = previous.get("verified", {}) if previous.get("commit") == commit else {}
    set_pull_record(repo_id, {"commit": commit, "layout": layout, "complete": False, "verified": verified})
    _check_disk_space(storage, files)
    # Our own progress reporting replaces huggingface_hub's tqdm bars (which also print to a server's log).
    disable_progress_bars()
    small = sorted(f.path for f in files if not f.sha256)
    try:
        with ProgressWatcher(storage, snapshot, files, report):
            snapshot_download(
                repo_id,
                revision=commit,
                allow_patterns=small,
                cache_dir=str(hub_cache_dir()),
                endpoint=hub_endpoint(),
            )
            headers = build_hf_headers()
            for f in files:
                if f.sha256 is None:
                    continue
                # Hashed while streaming: record it as verified so it is not read twice.
                pointer = fetch_lfs_file(
                    endpoint=hub_endpoint(),
                    repo_id=repo_id,
                    commit=commit,
                    path=f.path,
                    size=f.size,
                    sha256=f.sha256,
                    storage=storage,
                    headers=headers,
                )
                stat = pointer.resolve().stat()
                verified[f.path] = [stat.st_size, stat.st_mtime_ns]
    except ChecksumError:
        record = {"commit": commit, "layout": layout, "complete": False, "verified": verified}
        set_pull_record(repo_id, record)
        raise
    except (*_network_errors(), OSError) as exc:
        raise OfflineError(
            f"the download of {repo_id} was interrupted ({exc}). Files already finished are kept: "
            f"run `gossamer pull {repo_id}` again to resume."
        ) from exc
    except HfHubHTTPError as exc:
        raise GossamerError(f"the hub at {hub_endpoint()} failed while sending {repo_id}: {exc}") from exc
    if revision != commit:
        # Other tools (transformers, vLLM) find the snapshot of a branch through refs/<branch>.
        (storage / "refs").mkdir(parents=True, exist_ok=True)
        (storage / "refs" / revision).write_text(commit)
    total = sum(f.size for f in files)
    report(PullProgress("downloading", total, total))
    try:
        verified = verify_files(snapshot, files, verified, report)
    except ChecksumError:
        set_pull_record(repo_id, {"commit": commit, "layout": layout, "complete": False, "verified": {}})
        raise
    model_dir = snapshot / "original" if layout == "original" else snapshot
    check_complete(model_dir)
    set_pull_record(repo_id, {"commit": commit, "layout": layout, "complete": True, "verified": verified})
    report(PullProgress("success", total, total))
    logger.info("pulled %s@%s into %s", repo_id, commit[:12], model_dir)
    return model_dir
