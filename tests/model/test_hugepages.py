"""Weights are read into memory advised for 2 MB pages (Linux THP), and nothing breaks where not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from gossamer.model import hugepages

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _thp_available() -> bool:
    return sys.platform.startswith("linux") and THP.exists() and "[never]" not in THP.read_text()


def test_large_tensors_are_advised_where_the_os_has_huge_pages():
    tensor = hugepages.empty((16 << 20,), torch.uint8)  # 16 MB
    assert tensor.shape == (16 << 20,) and tensor.dtype == torch.uint8
    tensor.fill_(7)
    assert int(tensor[-1]) == 7
    if not _thp_available():
        pytest.skip("no transparent huge pages on this OS")
    assert hugepages.advise(torch.empty(16 << 20, dtype=torch.uint8))


def test_small_tensors_and_the_switch_leave_pages_alone(monkeypatch):
    assert not hugepages.advise(torch.empty(1024, dtype=torch.float32))
    monkeypatch.setenv("GOSSAMER_HUGEPAGES", "0")
    hugepages._madvise.cache_clear()
    try:
        assert not hugepages.advise(torch.empty(16 << 20, dtype=torch.uint8))
    finally:
        monkeypatch.delenv("GOSSAMER_HUGEPAGES")
        hugepages._madvise.cache_clear()


def test_the_loader_reads_weights_into_advised_memory(tiny_checkpoints, monkeypatch):
    from gossamer.model.loader import load_model

    advised = []
    real = hugepages.advise
    monkeypatch.setattr(hugepages, "advise", lambda t: advised.append(t.data_ptr()) or real(t))
    model = load_model(tiny_checkpoints["hf"], dtype=torch.bfloat16)  # sharded: joined buffers too
    assert model.unembedding.weight.data_ptr() in advised
    assert model.blocks[0].mlp.mlp1_blocks.data_ptr() in advised
