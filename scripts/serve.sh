#!/usr/bin/env bash
# Installs gossamer (if needed) and starts the server on the embedded model (gossamer-tiny)
# at http://127.0.0.1:8000. Extra arguments go to `gossamer serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
GOSSAMER_EXTRAS="${GOSSAMER_EXTRAS:-dev}" bash scripts/setup.sh
exec gossamer serve "$@"
