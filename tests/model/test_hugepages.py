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


def test_large_tensors_read_from_a_file_drop_its_cached_pages(tmp_path, monkeypatch):
    from gossamer.model.safetensors_io import SafetensorsFile, SafetensorsWriter, TensorSpec

    big = torch.arange(hugepages.MIN_BYTES // 4, dtype=torch.int32)  # exactly MIN_BYTES
    small = torch.arange(256, dtype=torch.float32)
    path = tmp_path / "w.safetensors"
    specs = [TensorSpec(name, t.dtype, tuple(t.shape)) for name, t in (("small", small), ("big", big))]
    with SafetensorsWriter(path, specs) as writer:
        writer.write("small", small)
        writer.write("big", big)
    advice = []
    real = hugepages.os.posix_fadvise
    monkeypatch.setattr(hugepages.os, "posix_fadvise", lambda *a: advice.append(a[1:]) or real(*a))
    file = SafetensorsFile(path)
    assert torch.equal(file.read("small"), small) and advice == []
    assert torch.equal(file.read("big"), big)
    info = file.tensors["big"]
    assert advice == [(info.begin, info.end - info.begin, hugepages.os.POSIX_FADV_DONTNEED)]
