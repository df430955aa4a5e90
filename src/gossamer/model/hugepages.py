"""Large weight tensors in memory backed by 2 MB pages where Linux allows it (THP via madvise).

Decode streams every weight once per token; on 4 KB pages the hardware prefetchers stop at each
page boundary and the TLB misses every few rows, which cost 5-20% of the read bandwidth on this
project's machines (measured: bf16 matrix-vector over 1.16 GB, same kernel, 2 MB vs 4 KB pages).
Distributions ship transparent huge pages in "madvise" mode, so they must be asked for, before
the memory is first written. GOSSAMER_HUGEPAGES=0 keeps ordinary pages.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from functools import cache

import torch

logger = logging.getLogger(__name__)

HUGE_PAGE = 2 << 20
MADV_HUGEPAGE = 14  # linux/mman.h
# Below this a tensor spans too few huge pages to matter.
MIN_BYTES = 8 << 20


@cache
def _madvise():
    if not sys.platform.startswith("linux") or os.environ.get("GOSSAMER_HUGEPAGES", "1") == "0":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    fn = libc.madvise
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def advise(tensor: torch.Tensor) -> bool:
    """Ask for huge pages under the 2 MB-aligned part of a large CPU tensor's memory; True when
    the OS took the advice. Only pages not yet touched are affected."""
    nbytes = tensor.numel() * tensor.element_size()
    madvise = _madvise()
    if madvise is None or nbytes < MIN_BYTES or tensor.device.type != "cpu":
        return False
    start = tensor.data_ptr()
    first = (start + HUGE_PAGE - 1) // HUGE_PAGE * HUGE_PAGE
    last = (start + nbytes) // HUGE_PAGE * HUGE_PAGE
    if last <= first:
        return False
    if madvise(first, last - first, MADV_HUGEPAGE) != 0:
        logger.debug("madvise(MADV_HUGEPAGE) failed (errno %d); keeping 4 KB pages", ctypes.get_errno())
        return False
    return True


def release_file_pages(fd: int, offset: int, nbytes: int) -> bool:
    """Drop the page cache over bytes of a weights file just copied into memory of our own; True
    when asked of the OS.

    The copy is what decode reads; keeping the file's pages cached too doubles the memory a load
    needs, and reclaiming them piecemeal while later tensors are allocated fragments memory so
    that those get fewer huge pages (measured on a 13.8 GB checkpoint read right after another
    large file: 10.5 GB of it on huge pages, 13.0 GB with the pages dropped as it goes).
    Tensors below MIN_BYTES are left alone."""
    if nbytes < MIN_BYTES or not hasattr(os, "posix_fadvise"):
        return False
    try:
        os.posix_fadvise(fd, offset, nbytes, os.POSIX_FADV_DONTNEED)
    except OSError as exc:  # e.g. a pipe or a filesystem that does not take advice
        logger.debug("posix_fadvise(DONTNEED) failed: %s", exc)
        return False
    return True


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """torch.empty on the CPU, advised for huge pages before anything touches it (see advise)."""
    tensor = torch.empty(shape, dtype=dtype)
    advise(tensor)
    return tensor
