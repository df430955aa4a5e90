"""The o200k_harmony encoding for the tiny model's scripts (training, evaluation, tests)."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path

from openai_harmony import HarmonyEncoding, HarmonyEncodingName, load_harmony_encoding


def harmony_encoding() -> HarmonyEncoding:
    """Prefer gossamer's offline loader; fall back to bpe-openai's bundled vocabulary."""
    try:
        from gossamer.harmony.tokenizer import load_harmony_encoding as gossamer_load
    except ImportError:
        gossamer_load = None
    if gossamer_load is not None:
        return gossamer_load()
    if not os.environ.get("TIKTOKEN_ENCODINGS_BASE"):
        import bpe_openai

        directory = Path(tempfile.gettempdir()) / "gossamer-tiny-tiktoken"
        target = directory / "o200k_base.tiktoken"
        if not target.is_file():
            directory.mkdir(parents=True, exist_ok=True)
            source = Path(bpe_openai.__file__).parent / "data" / "o200k_base.tiktoken.gz"
            with gzip.open(source, "rb") as src, open(target.with_suffix(".tmp"), "wb") as dst:
                shutil.copyfileobj(src, dst)
            target.with_suffix(".tmp").replace(target)
        os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(directory)
    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
