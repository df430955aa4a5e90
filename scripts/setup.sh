#!/usr/bin/env bash
# Installs gossamer and its test dependencies into the current Python environment.
# torch is installed first and pinned so pip takes the local CPU wheel instead of resolving
# a multi-GB CUDA build; GPU users install their CUDA torch first and set GOSSAMER_TORCH=skip.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
if [ "${GOSSAMER_TORCH:-}" != "skip" ] && ! python3 -c "import torch" >/dev/null 2>&1; then
    python3 -m pip install --quiet "torch==${GOSSAMER_TORCH_VERSION:-2.13.0}"
fi
python3 -m pip install --quiet -e ".[${GOSSAMER_EXTRAS:-dev}]"
