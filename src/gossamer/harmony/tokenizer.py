"""The o200k_harmony vocabulary, resolved without the network whenever a local copy exists.

openai-harmony reads `$TIKTOKEN_ENCODINGS_BASE/o200k_base.tiktoken` and downloads it otherwise,
which fails on an offline machine. We find the file ourselves, in this order, verify it by sha256,
place it in gossamer's cache directory and point openai-harmony there:

1. an explicit path (argument, or `$GOSSAMER_TIKTOKEN_FILE`), a file or a directory holding it;
2. `o200k_base.tiktoken` in the model directory (or its `original/` subdirectory);
3. the copy already in gossamer's cache (`$GOSSAMER_HOME/tiktoken` or `~/.cache/gossamer/tiktoken`);
4. one derived from the model directory's `tokenizer.json` (the model repos ship that, not the
   `.tiktoken` file): same ranks, written in Hugging Face's byte-to-unicode alphabet;
5. the gzipped copy shipped inside the `bpe-openai` package;
6. the normal download, last (skipped when `GOSSAMER_OFFLINE` or `HF_HUB_OFFLINE` is set).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from openai_harmony import HarmonyEncoding, HarmonyEncodingName
from openai_harmony import load_harmony_encoding as _harmony_load

from gossamer.errors import GossamerError

logger = logging.getLogger(__name__)

VOCAB_FILE_NAME = "o200k_base.tiktoken"
VOCAB_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
VOCAB_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
NUM_BASE_RANKS = 199998  # o200k_base ranks 0..199997; harmony's specials follow
VOCAB_SIZE = 201088  # o200k_harmony: ranks + specials + reserved, the model's embedding rows


class VocabularyError(GossamerError):
    """No usable o200k_base vocabulary could be found; the message lists every place tried."""


def gossamer_home() -> Path:
    return Path(os.environ.get("GOSSAMER_HOME") or Path.home() / ".cache" / "gossamer")


def vocab_cache_dir() -> Path:
    return gossamer_home() / "tiktoken"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Source:
    description: str
    read: Callable[[], bytes | None]  # None: nothing there; raises or wrong hash: corrupt
    explicit: bool = False  # asked for by the user: say so loudly when it cannot be used


def _read_file(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _explicit_file(path: Path) -> Path:
    return path / VOCAB_FILE_NAME if path.is_dir() else path


def _read_bpe_openai() -> bytes | None:
    # find_spec locates the package without importing it (its __init__ loads tokenizers eagerly).
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / f"{VOCAB_FILE_NAME}.gz"
    return gzip.decompress(path.read_bytes()) if path.is_file() else None


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map that Hugging Face BPE vocabularies use."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def tiktoken_from_tokenizer_json(tokenizer_json: dict) -> bytes:
    """Rebuild o200k_base.tiktoken (base64 token, space, rank per line) from a tokenizer.json."""
    vocab: dict[str, int] = tokenizer_json["model"]["vocab"]
    char_to_byte = {c: b for b, c in _bytes_to_unicode().items()}
    by_rank: dict[int, bytes] = {}
    for token, rank in vocab.items():
        if rank < NUM_BASE_RANKS:
            by_rank[rank] = bytes(char_to_byte[c] for c in token)
    if len(by_rank) != NUM_BASE_RANKS:
        raise ValueError(f"tokenizer.json holds {len(by_rank)} base ranks, expected {NUM_BASE_RANKS}")
    lines = (base64.b64encode(by_rank[rank]) + b" " + str(rank).encode() for rank in range(NUM_BASE_RANKS))
    return b"\n".join(lines) + b"\n"


def _read_tokenizer_json(path: Path) -> bytes | None:
    if not path.is_file():
        return None
    return tiktoken_from_tokenizer_json(json.loads(path.read_text(encoding="utf-8")))


def _offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("GOSSAMER_OFFLINE", "HF_HUB_OFFLINE"))


def _download() -> bytes:
    logger.info("downloading the o200k_base vocabulary from %s", VOCAB_URL)
    with urllib.request.urlopen(VOCAB_URL, timeout=30) as response:
        return response.read()


def _sources(model_dir: Path | None, tiktoken_file: Path | None) -> list[_Source]:
    sources: list[_Source] = []
    explicit = tiktoken_file or (
        Path(os.environ["GOSSAMER_TIKTOKEN_FILE"]) if os.environ.get("GOSSAMER_TIKTOKEN_FILE") else None
    )
    if explicit is not None:
        path = _explicit_file(explicit)
        sources.append(_Source(f"explicit path {path}", lambda p=path: _read_file(p), explicit=True))
    if model_dir is not None:
        for sub in (model_dir, model_dir / "original"):
            path = sub / VOCAB_FILE_NAME
            sources.append(_Source(f"model directory file {path}", lambda p=path: _read_file(p)))
    cached = vocab_cache_dir() / VOCAB_FILE_NAME
    sources.append(_Source(f"gossamer cache {cached}", lambda: _read_file(cached)))
    if model_dir is not None:
        path = model_dir / "tokenizer.json"
        sources.append(_Source(f"derived from {path}", lambda p=path: _read_tokenizer_json(p)))
    sources.append(_Source("bpe-openai package (bpe_openai/data/o200k_base.tiktoken.gz)", _read_bpe_openai))
    if _offline():
        sources.append(_Source(f"download from {VOCAB_URL} (skipped: offline mode set)", lambda: None))
    else:
        sources.append(_Source(f"download from {VOCAB_URL}", _download))
    return sources


def resolve_vocab_file(model_dir: str | Path | None = None, tiktoken_file: str | Path | None = None) -> Path:
    """Find a verified o200k_base.tiktoken, copy it into the cache directory, return the cached path."""
    model_dir = Path(model_dir) if model_dir is not None else None
    tiktoken_file = Path(tiktoken_file) if tiktoken_file is not None else None
    tried: list[str] = []
    for source in _sources(model_dir, tiktoken_file):
        problem = None
        try:
            data = source.read()
        except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
            data, problem = None, f"unreadable ({exc})"
        if data is None:
            problem = problem or "not present"
        elif (digest := _sha256(data)) != VOCAB_SHA256:
            problem = f"wrong sha256 {digest[:16]}... (corrupt or not o200k_base)"
        if problem is None:
            logger.info("o200k_base vocabulary from %s", source.description)
            return _place_in_cache(data)
        tried.append(f"{source.description}: {problem}")
        if source.explicit:
            logger.warning("vocabulary at %s is %s; trying other places", source.description, problem)
    raise VocabularyError(
        "no usable o200k_base vocabulary (sha256 "
        + VOCAB_SHA256[:16]
        + "...) was found. Tried:\n  - "
        + "\n  - ".join(tried)
        + "\nPass a file with GOSSAMER_TIKTOKEN_FILE, or install the bpe-openai package."
    )


def _place_in_cache(data: bytes) -> Path:
    try:
        return _write_verified(vocab_cache_dir(), data)
    except OSError as exc:
        # A read-only home (containers) must not stop the server: use a private temporary directory.
        fallback = Path(tempfile.gettempdir()) / f"gossamer-tiktoken-{os.getuid()}"
        logger.warning("cannot write %s (%s); using %s", vocab_cache_dir(), exc, fallback)
        return _write_verified(fallback, data)


def _write_verified(cache_dir: Path, data: bytes) -> Path:
    target = cache_dir / VOCAB_FILE_NAME
    if target.is_file() and _sha256(target.read_bytes()) == VOCAB_SHA256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(target)  # atomic, so a concurrent reader never sees half a file
    return target


_lock = threading.Lock()
_encoding: HarmonyEncoding | None = None
_vocab_path: Path | None = None


def load_harmony_encoding(
    model_dir: str | Path | None = None, tiktoken_file: str | Path | None = None
) -> HarmonyEncoding:
    """openai-harmony's o200k_harmony encoding, loaded once per process from a local vocabulary."""
    global _encoding, _vocab_path
    with _lock:
        if _encoding is not None:
            return _encoding
        path = resolve_vocab_file(model_dir, tiktoken_file)
        previous = os.environ.get("TIKTOKEN_ENCODINGS_BASE")
        os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(path.parent)
        try:
            _encoding = _harmony_load(HarmonyEncodingName.HARMONY_GPT_OSS)
        except Exception as exc:  # the Rust side raises HarmonyError on a malformed file
            raise VocabularyError(f"openai-harmony could not load the vocabulary at {path}: {exc}") from exc
        finally:
            # Leave the environment as we found it: harmony reads the variable only while loading.
            if previous is None:
                del os.environ["TIKTOKEN_ENCODINGS_BASE"]
            else:
                os.environ["TIKTOKEN_ENCODINGS_BASE"] = previous
        _vocab_path = path
        return _encoding


def reset_encoding_cache() -> None:
    """Forget the loaded encoding (tests that change the environment use this)."""
    global _encoding, _vocab_path
    with _lock:
        _encoding, _vocab_path = None, None
    token_table.cache_clear()


@dataclass(frozen=True)
class TokenTable:
    """Per-id bytes for ordinary tokens and names for special ones, for a decoder that never raises."""

    token_bytes: list[bytes | None]  # index: token id; None for specials and unused ids
    special_names: dict[int, str]  # id -> "<|start|>" etc.
    special_ids: dict[str, int]

    def is_valid(self, token_id: int) -> bool:
        return 0 <= token_id < len(self.token_bytes) and (
            self.token_bytes[token_id] is not None or token_id in self.special_names
        )


@lru_cache(maxsize=1)
def token_table() -> TokenTable:
    encoding = load_harmony_encoding()
    assert _vocab_path is not None
    token_bytes: list[bytes | None] = [None] * VOCAB_SIZE
    with _vocab_path.open("rb") as f:
        for line in f:
            token, rank = line.split()
            token_bytes[int(rank)] = base64.b64decode(token)
    special_ids: dict[str, int] = {}
    for name in encoding.special_tokens_set:
        (token_id,) = encoding.encode(name, allowed_special="all")
        special_ids[name] = token_id
    special_names = {i: n for n, i in special_ids.items()}
    return TokenTable(token_bytes, special_names, special_ids)


def encode_text(text: str) -> list[int]:
    """Encode text as ordinary tokens: `<|start|>` in user text is plain text, never a control token."""
    return load_harmony_encoding().encode(text, disallowed_special=())


def decode_text(token_ids: list[int]) -> str:
    """Decode ids to text (specials as their names); ids outside the vocabulary are skipped."""
    table = token_table()
    parts: list[bytes] = []
    for token_id in token_ids:
        if not table.is_valid(token_id):
            logger.warning("decode_text: skipping id %d outside the vocabulary", token_id)
            continue
        data = table.token_bytes[token_id]
        parts.append(data if data is not None else table.special_names[token_id].encode())
    return b"".join(parts).decode("utf-8", errors="replace")
