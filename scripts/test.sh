#!/usr/bin/env bash
# Installs what the suite needs (when needed, see setup.sh; Chromium for tests/webui), checks style,
# and runs the whole test suite with the environment's python. Extra arguments go to pytest.
set -euo pipefail
# shellcheck source=scripts/venv.sh
. "$(dirname "$0")/venv.sh"
select_venv
install_if_needed
ensure_browser
cd "$GOSSAMER_ROOT"
"$PY" -m ruff check src tests benchmarks
"$PY" -m pytest -q -p no:cacheprovider "$@"
