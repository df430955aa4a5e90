"""Skip sandbox tests, with the reason, where no isolation can be had (no bubblewrap)."""

from __future__ import annotations

import functools

import pytest

from gossamer.tools.python.sandbox import BwrapSandbox, SandboxLimits, SandboxUnavailable


@functools.cache
def sandbox_problem() -> str | None:
    try:
        BwrapSandbox().check()
    except SandboxUnavailable as exc:
        return f"no python sandbox here ({exc}); scripts/setup.sh installs bubblewrap when run as root"
    return None


def needs_sandbox() -> pytest.MarkDecorator:
    return pytest.mark.skipif(sandbox_problem() is not None, reason=sandbox_problem() or "")


# Small limits: the attacks hit them in a second or two.
TEST_LIMITS = SandboxLimits(
    cpu_s=2, wall_s=4.0, memory_bytes=512 << 20, max_processes=16, max_output_bytes=64 << 10
)
