"""Fixtures shared by the whole suite: synthetic gpt-oss checkpoints written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from gossamer.model.config import PRESETS


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """The `tiny` preset (4 layers, full 201088 vocabulary, MXFP4 experts), same random weights in
    both layouts: {"original": dir, "hf": dir} (the HF one sharded, with an index)."""
    from gossamer.testing.checkpoint import write_checkpoint

    root = tmp_path_factory.mktemp("tiny-checkpoints")
    return {
        "original": write_checkpoint(root / "original", PRESETS["tiny"], layout="original", seed=0),
        "hf": write_checkpoint(root / "hf", PRESETS["tiny"], layout="hf", seed=0, max_shard_bytes=32 << 20),
    }


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_checkpoints) -> Path:
    """The tiny preset in the original layout."""
    return tiny_checkpoints["original"]


@pytest.fixture(scope="session")
def tiny_hf_checkpoint(tiny_checkpoints) -> Path:
    """The same weights in the Hugging Face layout (loadable by transformers' GptOssForCausalLM)."""
    return tiny_checkpoints["hf"]
