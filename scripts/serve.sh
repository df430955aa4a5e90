#!/usr/bin/env bash
# Installs gossamer when needed (see setup.sh), then serves the embedded model (gossamer-tiny) on
# http://127.0.0.1:8000. Extra arguments go to `gossamer serve`.
set -euo pipefail
# shellcheck source=scripts/venv.sh
. "$(dirname "$0")/venv.sh"
select_venv
install_if_needed
where_to_find_it
say "starting: gossamer serve $*"
exec "$VENV/bin/gossamer" serve "$@"
