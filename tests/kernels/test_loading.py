"""Build, ISA choice and fallback, each checked in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gossamer import kernels

PROBE = (
    "import logging, sys; logging.basicConfig(level=logging.WARNING);"
    "from gossamer import kernels;"
    "ok = kernels.available();"
    "print(ok, kernels.current_isa() if ok else kernels.unavailable_reason())"
)


def _probe(**env: str) -> str:
    full_env = {**os.environ, **env}
    result = subprocess.run([sys.executable, "-c", PROBE], env=full_env, capture_output=True, text=True,
                            timeout=240, check=True, cwd=os.getcwd())
    return result.stdout.strip()


@pytest.mark.parametrize("isa", ["avx512amx", "avx512bf16", "avx512", "avx2", "scalar"])
def test_env_var_forces_isa(isas, isa):
    if isa not in isas:
        pytest.skip(f"this CPU lacks {isa}")
    assert _probe(GOSSAMER_KERNELS_ISA=isa) == f"True {isa}"


def test_default_isa_is_the_best_supported(isas):
    assert kernels.current_isa() in isas
    best = _probe()
    assert best == f"True {isas[-1]}"


def test_disabled_by_env_var():
    assert _probe(GOSSAMER_KERNELS="0") == "False disabled by GOSSAMER_KERNELS=0"


def test_no_compiler_falls_back(tmp_path):
    """With no compiler on PATH and an empty cache, loading fails softly (the torch path stays)."""
    out = _probe(PATH=str(tmp_path), CXX="", GOSSAMER_HOME=str(tmp_path / "home"))
    assert out.startswith("False no C++ compiler found")


def test_build_command_reports_the_isa(isas):
    result = subprocess.run([sys.executable, "-m", "gossamer.kernels"], capture_output=True, text=True,
                            timeout=240, check=True, cwd=os.getcwd())
    assert f"using {isas[-1]}" in result.stdout


def test_a_compiler_without_amx_leaves_the_tile_kernels_out(isas, tmp_path):
    """The AMX source is optional in the build: a compiler that refuses its flags (GCC before 11)
    gives a library without it, whose best instruction set is then the one below."""
    if "avx512amx" not in isas:
        pytest.skip("this CPU (or its kernel) offers no AMX tiles")
    compiler = tmp_path / "cxx"
    compiler.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = -mamx-tile ] && exit 1; done\nexec g++ "$@"\n')
    compiler.chmod(0o755)
    assert _probe(CXX=str(compiler), GOSSAMER_HOME=str(tmp_path / "home")) == "True avx512bf16"
