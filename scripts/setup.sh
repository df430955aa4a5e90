#!/usr/bin/env bash
# Installs gossamer and its test dependencies: into the active virtual environment, or else into
# .venv in this clone (created on first use; the system Python is never touched).
# torch is installed first and pinned, so resolving the rest never pulls another build of it; GPU
# users install their CUDA torch into the environment first and set GOSSAMER_TORCH=skip.
# --if-needed: do nothing when this clone is installed and pyproject.toml has not changed since.
# Other settings: see scripts/venv.sh.
set -euo pipefail
# shellcheck source=scripts/venv.sh
. "$(dirname "$0")/venv.sh"
select_venv
if [ "${1:-}" = "--if-needed" ]; then
    install_if_needed
else
    install_all
    ensure_bubblewrap
fi
where_to_find_it
