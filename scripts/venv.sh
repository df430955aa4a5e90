# shellcheck shell=bash
# Sourced by setup.sh, serve.sh and test.sh (not run on its own): choose the Python environment
# gossamer lives in, and install into it.
#
# Inside an active virtual environment ($VIRTUAL_ENV) that one is used. Otherwise the clone gets its
# own, .venv, created on first use: the system Python is never installed into (Debian 12, Ubuntu
# 23.04+ and Homebrew mark theirs "externally managed", PEP 668, and pip refuses).
#
# Variables: PYTHON (the interpreter that creates .venv, default python3), GOSSAMER_EXTRAS (default
# dev), GOSSAMER_TORCH=skip (bring your own torch, e.g. a CUDA build), GOSSAMER_TORCH_VERSION
# (default 2.13.0), GOSSAMER_TORCH_INDEX (a package index for torch only, e.g.
# https://download.pytorch.org/whl/cpu).

GOSSAMER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOSSAMER_EXTRAS="${GOSSAMER_EXTRAS:-dev}"
GOSSAMER_TORCH_VERSION="${GOSSAMER_TORCH_VERSION:-2.13.0}"
STAMP_NAME=".gossamer-installed"

say() { echo "gossamer setup: $*" >&2; }
die() { say "$*"; exit 1; }

# Sets VENV and PY (the environment's python), creating .venv when no environment is active.
select_venv() {
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        VENV="$VIRTUAL_ENV"
        PY="$VENV/bin/python"
        [ -x "$PY" ] || die "the active virtual environment $VENV has no bin/python; deactivate it or fix it"
        say "using the active virtual environment at $VENV"
        return
    fi
    VENV="$GOSSAMER_ROOT/.venv"
    PY="$VENV/bin/python"
    if [ -e "$VENV" ]; then
        "$PY" -c "" 2>/dev/null || die "$VENV exists but its python does not run (was it made by a \
Python that is gone?); remove it (rm -r $VENV) and run this again"
        say "using .venv at $VENV"
        return
    fi
    create_venv
}

create_venv() {
    local base="${PYTHON:-python3}"
    command -v "$base" >/dev/null 2>&1 || die "no $base found: install Python 3.11 or newer, or set PYTHON"
    "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$base is Python $("$base" -c 'import platform; print(platform.python_version())'); \
gossamer needs 3.11 or newer (set PYTHON=/path/to/python3.11 or newer)"
    say "creating a virtual environment at $VENV ($base, Python $("$base" -c 'import platform; print(platform.python_version())')) ..."
    local log
    if ! log="$("$base" -m venv "$VENV" 2>&1)"; then
        rm -rf "$VENV"  # ours, half made: leave nothing that looks usable
        echo "$log" >&2
        if echo "$log" | grep -qi "ensurepip"; then
            die "$base cannot create virtual environments: its venv/ensurepip support is not installed. \
On Debian or Ubuntu: sudo apt install python3-venv (or python3.X-venv for your version), then run this again."
        fi
        die "could not create $VENV with $base -m venv (see above)"
    fi
    # A fresh venv's pip may predate what the build needs; quietly bring it up to date (offline is fine).
    "$PY" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
}

# What the installation depends on: pyproject.toml, the extras and where this clone is.
install_key() {
    "$PY" - "$GOSSAMER_ROOT" "$GOSSAMER_EXTRAS" <<'EOF'
import hashlib, pathlib, sys
root, extras = sys.argv[1:]
digest = hashlib.sha256((pathlib.Path(root) / "pyproject.toml").read_bytes())
digest.update(f"{root}\0{extras}".encode())
print(digest.hexdigest())
EOF
}

# True when gossamer is installed from this clone, torch is there, and pyproject.toml has not changed.
is_installed() {
    [ -x "$VENV/bin/gossamer" ] || return 1
    [ "$(cat "$VENV/$STAMP_NAME" 2>/dev/null)" = "$(install_key)" ] || return 1
    # find_spec, not import: torch takes seconds to import.
    "$PY" - "$GOSSAMER_ROOT/src" <<'EOF' || return 1
import importlib.util, os, sys
spec = importlib.util.find_spec("gossamer")
ours = spec is not None and spec.origin and os.path.realpath(spec.origin).startswith(os.path.realpath(sys.argv[1]))
sys.exit(0 if ours and importlib.util.find_spec("torch") else 1)
EOF
}

install_all() {
    rm -f "$VENV/$STAMP_NAME"
    if [ "${GOSSAMER_TORCH:-}" = "skip" ]; then
        say "GOSSAMER_TORCH=skip: using the torch already installed"
    elif "$PY" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)'; then
        say "torch is already installed"
    else
        # torch first and pinned, so resolving gossamer's dependencies never pulls another build of it.
        local index=()
        [ -n "${GOSSAMER_TORCH_INDEX:-}" ] && index=(--index-url "$GOSSAMER_TORCH_INDEX")
        say "installing torch $GOSSAMER_TORCH_VERSION ${GOSSAMER_TORCH_INDEX:+from $GOSSAMER_TORCH_INDEX }(a few minutes on a first run) ..."
        "$PY" -m pip install --quiet ${index[@]+"${index[@]}"} "torch==$GOSSAMER_TORCH_VERSION"  # bash 3.2-safe
    fi
    say "installing gossamer and its dependencies (extras: $GOSSAMER_EXTRAS) ..."
    (cd "$GOSSAMER_ROOT" && "$PY" -m pip install --quiet -e ".[$GOSSAMER_EXTRAS]")
    install_key >"$VENV/$STAMP_NAME"
    say "installed: $("$PY" -c 'import torch; print(f"torch {torch.__version__}", "(CPU build)" if torch.version.cuda is None else f"(CUDA {torch.version.cuda} build)")')"
}

install_if_needed() {
    if is_installed; then
        say "already installed"
    else
        install_all
    fi
    ensure_bubblewrap
}

# The python tool's sandbox (docs/builtin-tools.md) and its tests need bubblewrap, a system package:
# installed with apt when missing and we are root; otherwise say so (those tests then skip, saying why).
ensure_bubblewrap() {
    command -v bwrap >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing bubblewrap (the python tool's sandbox) ..."
        local apt=(apt-get -o DPkg::Lock::Timeout=300 install -y -qq bubblewrap)
        "${apt[@]}" >/dev/null 2>&1 || { apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 \
            && "${apt[@]}" >/dev/null 2>&1; } || say "could not install bubblewrap: the python tool is off"
    else
        say "bubblewrap is not installed: the python tool needs it (apt-get install bubblewrap)"
    fi
}

where_to_find_it() {
    if [ "$VENV" = "$GOSSAMER_ROOT/.venv" ]; then
        say "to use it yourself: . $VENV/bin/activate (then gossamer, python, pytest), or run $VENV/bin/gossamer"
    fi
}

# The chat page's browser tests (tests/webui) drive Debian's Chromium through Playwright (whose own
# browser download is not used). Installed with apt where this may (root, or sudo without a
# password); otherwise said, and those tests skip (outside CI, where a missing browser fails them).
ensure_browser() {
    [ -x "${GOSSAMER_CHROMIUM:-/usr/bin/chromium}" ] && return 0
    local sudo=()
    if ! command -v apt-get >/dev/null 2>&1; then
        say "no Chromium: tests/webui will be skipped (install Chromium and set GOSSAMER_CHROMIUM to its path)"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        sudo -n true 2>/dev/null || { say "no Chromium: tests/webui will be skipped (sudo apt install chromium)"; return 0; }
        sudo=(sudo -n)
    fi
    say "installing Chromium for the browser tests (apt-get install chromium) ..."
    { ${sudo[@]+"${sudo[@]}"} apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        ${sudo[@]+"${sudo[@]}"} apt-get install -y -qq chromium; } >/dev/null \
        || say "could not install Chromium: tests/webui will be skipped"
}
