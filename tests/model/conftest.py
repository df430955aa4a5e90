"""Model tests run tiny shapes: one intra-op thread is faster for them than two (and far faster
when the cores are shared), since every op is too small to split."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
