"""Shared fixtures: the bundled gossamer-tiny, unpacked once per session into a temporary home."""

from __future__ import annotations

from pathlib import Path

import pytest

from gossamer.tiny import ARCHIVE, model_path


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ARCHIVE.is_file():
        pytest.fail(f"{ARCHIVE} is missing: run python -m gossamer.tiny.export ... --pack")
    return model_path(tmp_path_factory.mktemp("gossamer-home") / "models")


@pytest.fixture(scope="session")
def hf_model(tiny_dir: Path):
    from transformers import GptOssForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    import torch

    return GptOssForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def encoding():
    from gossamer.tiny.encoding import harmony_encoding

    return harmony_encoding()
