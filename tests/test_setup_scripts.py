"""scripts/setup.sh and serve.sh choose an environment, install only when needed, and fail clearly.

They run for real against a throwaway clone (the scripts, a pyproject.toml and an empty package) and
a stand-in python whose `-m pip` and `-m venv` only record what they were asked, so nothing is
downloaded; everything else goes to the interpreter running these tests.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def write_executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def stand_in_python(path: Path, clone: Path, log: Path, venv_error: str | None = None) -> None:
    """A python that logs `-m pip` and `-m venv` calls and otherwise runs the real one on the clone's src."""
    venv = (
        f'echo "{venv_error}" >&2; exit 1'
        if venv_error
        else 'mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; exit 0'
    )
    write_executable(path, f"""#!/usr/bin/env bash
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "pip ${{*:3}}" >> "{log}"; exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then echo "venv ${{*:3}}" >> "{log}"; {venv}; fi
PYTHONPATH="{clone}/src" exec "{sys.executable}" "$@"
""")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    for name in ("venv.sh", "setup.sh", "serve.sh"):
        (root / "scripts").mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "scripts" / name, root / "scripts" / name)
    (root / "pyproject.toml").write_text('[project]\nname = "gossamer"\n')
    (root / "src" / "gossamer").mkdir(parents=True)
    (root / "src" / "gossamer" / "__init__.py").write_text("")
    return root


def run(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GOSSAMER_", "VIRTUAL_ENV", "PYTHON"))}
    return subprocess.run(
        ["bash", str(script), *args], env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_serve_installs_once_then_only_when_pyproject_changes(clone: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    venv = clone / ".venv"
    stand_in_python(tmp_path / "python3", clone, log)

    # No active environment: the clone's own .venv is created with PYTHON, then installed into.
    first = run(clone / "scripts" / "setup.sh", PYTHON=str(tmp_path / "python3"))
    assert first.returncode == 0, first.stderr
    assert f"creating a virtual environment at {venv}" in first.stderr
    assert "installing gossamer and its dependencies (extras: dev)" in first.stderr
    assert f". {venv}/bin/activate" in first.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == f"venv {venv}"
    assert calls[-1] == "pip install --quiet -e .[dev]"  # torch is importable here: not reinstalled
    assert "torch is already installed" in first.stderr

    write_executable(venv / "bin" / "gossamer", '#!/usr/bin/env bash\necho "gossamer $*"\n')  # pip's, really
    log.unlink()
    served = run(clone / "scripts" / "serve.sh", "--port", "1234")
    assert served.returncode == 0, served.stderr
    assert served.stdout == "gossamer serve --port 1234\n"
    assert f"using .venv at {venv}" in served.stderr and "already installed" in served.stderr
    assert not log.exists()  # nothing was installed

    with (clone / "pyproject.toml").open("a") as f:
        f.write("# a new dependency\n")
    changed = run(clone / "scripts" / "serve.sh")
    assert changed.returncode == 0, changed.stderr
    assert "installing gossamer" in changed.stderr
    assert log.read_text().splitlines() == ["pip install --quiet -e .[dev]"]


def test_an_active_virtual_environment_is_used(clone: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    active = tmp_path / "active"
    stand_in_python(active / "bin" / "python", clone, log)
    result = run(clone / "scripts" / "setup.sh", VIRTUAL_ENV=str(active), GOSSAMER_EXTRAS="dev,bench")
    assert result.returncode == 0, result.stderr
    assert f"using the active virtual environment at {active}" in result.stderr
    assert log.read_text().splitlines() == ["pip install --quiet -e .[dev,bench]"]
    assert not (clone / ".venv").exists()


def test_without_python3_venv_it_names_the_package_to_install(clone: Path, tmp_path: Path) -> None:
    # What Debian's python3 says when python3-venv is not installed.
    debian = "The virtual environment was not created successfully because ensurepip is not available."
    stand_in_python(tmp_path / "python3", clone, tmp_path / "calls.log", venv_error=debian)
    result = run(clone / "scripts" / "serve.sh", PYTHON=str(tmp_path / "python3"))
    assert result.returncode != 0
    assert "apt install python3-venv" in result.stderr
    assert not (clone / ".venv").exists()


def test_too_old_a_python_is_named(clone: Path, tmp_path: Path) -> None:
    old = tmp_path / "python3"
    write_executable(old, f"""#!/usr/bin/env bash
if [ "$1" = "-c" ] && [[ "$2" == *version_info* ]]; then exit 1; fi
exec "{sys.executable}" "$@"
""")
    result = run(clone / "scripts" / "setup.sh", PYTHON=str(old))
    assert result.returncode != 0
    assert "gossamer needs 3.11 or newer" in result.stderr
    assert not (clone / ".venv").exists()
