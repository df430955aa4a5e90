#!/usr/bin/env bash
# Installs everything the suite needs, checks style, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m ruff check src tests benchmarks
python3 -m pytest -q -p no:cacheprovider "$@"
