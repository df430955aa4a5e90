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
