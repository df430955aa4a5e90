"""Compile the C++ kernels with the system compiler on first use and cache the shared library.

Why not a build-time extension: `pip install` with build isolation would pull a (CUDA) torch
just to build, and a prebuilt binary is what this project refuses to ship. The sources travel as
package data; the first process that needs them runs g++ (a few seconds), later ones load the
cached `.so`. The cache key hashes the sources, the flags and the compiler's version, so an
upgrade or an edit rebuilds instead of loading a stale library.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

CSRC_DIR = Path(__file__).parent / "csrc"
LIBRARY_NAME = "libgossamer_kernels.so"
_COMMON_FLAGS = ["-O3", "-std=c++17", "-fPIC", "-fopenmp", "-fno-math-errno"]
# One object per instruction set; dispatch.cpp chooses among them from cpuid at run time.
_ISA_FLAGS = {
    "avx512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mfma", "-mavx2"],
    "avx2": ["-mavx2", "-mfma"],
    "scalar": [],
}


# Sources compiled once per instruction set (their symbols carry the ISA's name).
_PER_ISA_SOURCES = ("isa_kernels.cpp", "attention.cpp")
# Sources for one AVX-512 extension each (vdpbf16ps, vpdpbusd): called only when cpuid reports it.
_EXTENSION_SOURCES = {
    "isa_avx512bf16.cpp": "-mavx512bf16",
    "attention_bf16.cpp": "-mavx512bf16",
    "isa_avx512vnni.cpp": "-mavx512vnni",
}
# Sources a compiler may not know the intrinsics of (AMX: GCC 11+, clang 12+): built when it can,
# left out otherwise; dispatch.cpp declares their symbols weak and checks them before use.
_OPTIONAL_SOURCES = {"isa_amx.cpp": ["-mamx-tile", "-mamx-bf16"]}
# Compiled for the baseline x86-64: the run-time dispatch and the fused blocks that call it.
_BASELINE_SOURCES = ("dispatch.cpp", "moe_block.cpp", "qkv_block.cpp", "paged_attention.cpp")


class KernelBuildError(RuntimeError):
    """The kernels could not be compiled here (no compiler, or not an x86-64 machine)."""


def cache_root() -> Path:
    home = os.environ.get("GOSSAMER_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "gossamer"
    return base / "kernels"


def find_compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _build_key(compiler: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(CSRC_DIR.glob("*")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(repr((_COMMON_FLAGS, _ISA_FLAGS, _EXTENSION_SOURCES, _OPTIONAL_SOURCES)).encode())
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False).stdout
    digest.update(version.encode())
    return digest.hexdigest()[:16]


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise KernelBuildError(f"{' '.join(cmd[:3])} ... failed:\n{result.stderr[-2000:]}")


def build_library(force: bool = False) -> Path:
    """Return the path of the compiled library, compiling it first if the cache lacks it."""
    compiler = find_compiler()
    if compiler is None:
        raise KernelBuildError("no C++ compiler found (set CXX, or install g++)")
    target_dir = cache_root() / _build_key(compiler)
    library = target_dir / LIBRARY_NAME
    if library.exists() and not force:
        return library
    target_dir.mkdir(parents=True, exist_ok=True)
    # Build in a private temporary directory and rename into place, so processes building at
    # the same time never load a half-written library.
    with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
        objects = []
        for isa, flags in _ISA_FLAGS.items():
            for source in _PER_ISA_SOURCES:
                obj = Path(tmp) / f"{Path(source).stem}_{isa}.o"
                _run([compiler, *_COMMON_FLAGS, *flags, f"-DGK_ISA={isa}", "-c", str(CSRC_DIR / source),
                      "-o", str(obj)])
                objects.append(str(obj))
        compiles = [(source, [*_ISA_FLAGS["avx512"], flag]) for source, flag in _EXTENSION_SOURCES.items()]
        compiles += [(source, []) for source in _BASELINE_SOURCES]
        for source, flags in compiles:
            obj = Path(tmp) / f"{Path(source).stem}.o"
            _run([compiler, *_COMMON_FLAGS, *flags, "-c", str(CSRC_DIR / source), "-o", str(obj)])
            objects.append(str(obj))
        for source, flags in _OPTIONAL_SOURCES.items():
            obj = Path(tmp) / f"{Path(source).stem}.o"
            try:
                _run([compiler, *_COMMON_FLAGS, *_ISA_FLAGS["avx512"], *flags, "-c", str(CSRC_DIR / source),
                      "-o", str(obj)])
            except KernelBuildError as exc:
                logger.info("left %s out of the kernels (this compiler cannot build it): %s", source,
                            str(exc).splitlines()[0])
                continue
            objects.append(str(obj))
        out = Path(tmp) / LIBRARY_NAME
        _run([compiler, "-shared", "-fopenmp", *objects, "-o", str(out)])
        os.replace(out, library)
    logger.info("compiled gossamer kernels into %s", library)
    return library
