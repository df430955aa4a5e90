"""Run untrusted Python in a bubblewrap sandbox: no network, nothing of the host but the interpreter.

Isolation, layer by layer (each one is tested by an attack in tests/tools/test_sandbox_escapes.py):
- namespaces (`bwrap --unshare-all`): a network namespace with only its own loopback (the host's
  127.0.0.1 servers are unreachable), its own PIDs, IPC and hostname;
- a filesystem of only what the interpreter needs, read-only (/usr, the interpreter's prefix), a
  fresh /proc and /dev, and a private tmpfs as the working folder: the host's files (the
  Responses database, ~/.ssh, the models) are not there to read, and nothing can be written
  outside the tmpfs, which vanishes with the run;
- an unprivileged user: when the server runs as root, each run drops to a uid of its own (from a
  pool far above real users') before bwrap, so the kernel enforces RLIMIT_NPROC (it does not for
  root), no capability is left, and one run's processes (a fork bomb's, while the kernel reaps
  them) never count against the next run's limit;
- rlimits set before exec: CPU seconds, address space, processes, file size, open files, no core;
- from outside: a wall-clock timeout that kills the whole process group, and caps on the output
  read back (a run that prints past them is stopped).

Start-up cost: ~0.1 s per call on the 2-core development machine (bwrap plus the interpreter;
measured by tests/tools/test_sandbox.py and quoted in docs/builtin-tools.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import resource
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

SANDBOX_UID_BASE = 2_147_000_000  # per-run uids when the server is root: above any real user's
SANDBOX_UID_SLOTS = 4096
_next_slot = itertools.count()
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives")


class SandboxUnavailable(RuntimeError):
    """No isolation can be had on this machine (no bwrap, or it cannot create namespaces)."""


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 10  # CPU seconds (RLIMIT_CPU: SIGXCPU, then SIGKILL)
    wall_s: float = 20.0  # wall clock, from the outside (an endless sleep uses no CPU)
    memory_bytes: int = 1 << 30  # address space (RLIMIT_AS): a 10 GB allocation fails with MemoryError
    max_processes: int = 32  # RLIMIT_NPROC of the sandbox user: a fork bomb stops there
    max_file_bytes: int = 16 << 20  # any one file written (RLIMIT_FSIZE)
    max_open_files: int = 64
    max_output_bytes: int = 64 << 10  # stdout and stderr read back; past this the run is stopped


@dataclass
class RunResult:
    stdout: str
    stderr: str
    exit_code: int | None  # None: killed from outside
    signal_name: str | None = None  # the signal that ended it, if any
    timed_out: bool = False
    output_capped: bool = False
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BwrapSandbox:
    """One `run(code)` = one fresh sandbox: nothing survives between calls (the tool is stateless)."""

    limits: SandboxLimits = SandboxLimits()
    interpreter: str = "/usr/bin/python3"  # reachable by `nobody`; a pyenv under /root would not be
    bwrap: str = "bwrap"

    def command(self) -> list[str]:
        interpreter = Path(self.interpreter).resolve()
        args = [
            self.bwrap,
            "--unshare-all",  # network, PID, IPC, UTS, cgroup (and user where unprivileged)
            "--die-with-parent",
            "--new-session",  # no TIOCSTI into the server's terminal
            "--cap-drop",
            "ALL",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/local/bin:/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--setenv",
            "PYTHONIOENCODING",
            "utf-8",
            "--setenv",
            "PYTHONDONTWRITEBYTECODE",
            "1",
            "--setenv",
            "OPENBLAS_NUM_THREADS",
            "1",  # its per-thread buffers would eat the address space
            "--setenv",
            "OMP_NUM_THREADS",
            "1",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--chdir",
            "/tmp",
        ]
        for path in _SYSTEM_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in _ETC_FILES:
            args += ["--ro-bind-try", path, path]
        prefix = _prefix_of(interpreter)
        if prefix is not None and not any(str(prefix).startswith(d + "/") for d in _SYSTEM_DIRS):
            args += ["--ro-bind", str(prefix), str(prefix)]
        # The sandbox's own root (a tmpfs holding the mount points) read-only too: only /tmp is writable.
        args += ["--remount-ro", "/"]
        # The program arrives on stdin: no file of it on the host, and `input()` reads end-of-file.
        return [*args, str(interpreter), "-I", "-"]

    def check(self) -> None:
        """Raise SandboxUnavailable unless a trivial program runs isolated here."""
        if shutil.which(self.bwrap) is None:
            raise SandboxUnavailable(
                f"'{self.bwrap}' is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
            )
        if not os.path.exists(self.interpreter):
            raise SandboxUnavailable(f"the sandbox's interpreter {self.interpreter} does not exist")
        result = asyncio.run(self.run("print(6 * 7)")) if not _in_loop() else None
        if result is not None and result.stdout.strip() != "42":
            raise SandboxUnavailable(
                f"bwrap cannot start a sandbox here (exit {result.exit_code}): {result.stderr.strip()[:300]}"
            )

    async def run(self, code: str) -> RunResult:
        limits = self.limits
        started = time.perf_counter()
        if os.getuid() == 0:
            uid: int | None = SANDBOX_UID_BASE + next(_next_slot) % SANDBOX_UID_SLOTS
            max_tasks = limits.max_processes
        else:  # RLIMIT_NPROC counts every task of the user, this server's threads included
            uid, max_tasks = None, _tasks_of(os.getuid()) + limits.max_processes
        proc = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=lambda: _enter_limits(limits, max_tasks, uid),
            start_new_session=True,  # its own process group: one killpg ends everything it started
        )
        result = RunResult("", "", None)
        budget = _Budget(limits.max_output_bytes)
        try:
            async with asyncio.timeout(limits.wall_s):
                await asyncio.gather(
                    _feed(proc, code.encode("utf-8", errors="replace")),
                    _drain(proc.stdout, budget, "stdout", proc),
                    _drain(proc.stderr, budget, "stderr", proc),
                )
                await proc.wait()
        except TimeoutError:
            result.timed_out = True
        finally:
            _kill_group(proc)
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()
        result.stdout = budget.text("stdout")
        result.stderr = budget.text("stderr")
        result.output_capped = budget.capped
        result.duration_s = time.perf_counter() - started
        code_or_signal = proc.returncode
        if result.timed_out or result.output_capped:
            result.exit_code = None
        elif code_or_signal is not None and code_or_signal < 0:
            result.signal_name = signal.Signals(-code_or_signal).name
        else:
            result.exit_code = code_or_signal
            # bwrap reports its child's death by signal as exit 128 + N
            if code_or_signal is not None and code_or_signal > 128 and code_or_signal - 128 < 65:
                with contextlib.suppress(ValueError):
                    result.signal_name = signal.Signals(code_or_signal - 128).name
        return result


def _prefix_of(interpreter: Path) -> Path | None:
    """The installation an interpreter runs from (`.../bin/python3` -> `...`)."""
    return interpreter.parent.parent if interpreter.parent.name == "bin" else None


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _enter_limits(limits: SandboxLimits, max_tasks: int, uid: int | None) -> None:
    """In the child, before exec: rlimits, then (as root) become the run's own user so they all hold."""
    for name, value in (
        (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_NPROC, max_tasks),
        (resource.RLIMIT_FSIZE, limits.max_file_bytes),
        (resource.RLIMIT_NOFILE, limits.max_open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(name, (value, value))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def _tasks_of(uid: int) -> int:
    """Processes and threads of `uid` now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(entry.path).st_uid == uid:
                    count += len(os.listdir(f"{entry.path}/task"))
    return count


class _Budget:
    """Output kept per stream, against one shared cap."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.parts: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.capped = False

    def take(self, name: str, data: bytes) -> bool:
        """Keep what fits; False once the cap is passed."""
        used = sum(len(p) for p in self.parts.values())
        room = self.max_bytes - used
        self.parts[name] += data[: max(room, 0)]
        if len(data) > room:
            self.capped = True
            return False
        return True

    def text(self, name: str) -> str:
        return self.parts[name].decode("utf-8", errors="replace")


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # it exited before reading all of its program: its stderr says why
    finally:
        proc.stdin.close()


async def _drain(stream: asyncio.StreamReader | None, budget: _Budget, name: str, proc) -> None:
    assert stream is not None
    while chunk := await stream.read(65536):
        if not budget.capped and not budget.take(name, chunk):
            _kill_group(proc)  # it printed past the cap: stop it; what is left in the pipe is dropped


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def default_interpreter() -> str:
    """/usr/bin/python3 when there is one (every user can read it), else this interpreter."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
