"""Python without isolation, only when the operator asks for it (`--python-sandbox none`).

The same limits as the sandbox where the kernel enforces them per process (rlimits, wall clock,
output caps), but the code sees this machine's files and network as the server's user does.
"""

from __future__ import annotations

from dataclasses import dataclass

from gossamer.tools.python.sandbox import BwrapSandbox


@dataclass(frozen=True)
class UnsandboxedRunner(BwrapSandbox):
    def command(self) -> list[str]:
        return [self.interpreter, "-I", "-"]

    def check(self) -> None:
        pass
