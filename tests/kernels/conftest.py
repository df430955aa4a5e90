"""Shared fixtures: skip when the kernels cannot be compiled here, and restore the chosen ISA."""

from __future__ import annotations

import pytest

from gossamer import kernels


@pytest.fixture(scope="session")
def isas() -> list[str]:
    if not kernels.available():
        pytest.skip(f"CPU kernels unavailable: {kernels.unavailable_reason()}")
    return kernels.supported_isas()


@pytest.fixture
def use_isa(isas: list[str]):
    """Call use_isa(name) to force an instruction set for one test; the default is restored after."""
    default = kernels.current_isa()

    def force(name: str) -> None:
        if name not in isas:
            pytest.skip(f"this CPU lacks {name}")
        kernels.set_isa(name)

    yield force
    kernels.set_isa(default)


@pytest.fixture(autouse=True)
def exact_experts():
    """The kernel tests compare exact products unless they ask for int8 (`int8_experts`)."""
    if not kernels.available():
        yield
        return
    before = kernels.experts_precision()
    kernels.set_experts_precision("exact")
    yield
    kernels.set_experts_precision(before)


@pytest.fixture
def int8_experts(exact_experts):
    if kernels.set_experts_precision("int8") != "int8":
        pytest.skip("int8 experts need AVX512-VNNI and the AVX-512 kernels")
