#!/usr/bin/env bash
# Create .venv and install embedkit with its test and benchmark extras. Idempotent and quick when done.
# Environment pins live here, not in the package metadata:
#   EMBEDKIT_TORCH   torch requirement installed first (default: torch==2.13.0, a CPU build; on a GPU box
#                    set e.g. EMBEDKIT_TORCH="torch" to get the CUDA build pip picks).
#   EMBEDKIT_EXTRAS  extras to install (default: dev,faiss-cpu,bench).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH=${EMBEDKIT_TORCH:-torch==2.13.0}
EXTRAS=${EMBEDKIT_EXTRAS:-dev,faiss-cpu,bench}
stamp=".venv/.embedkit-setup-$( (cat setup.cfg pyproject.toml; echo "$TORCH $EXTRAS") | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch before anything that depends on it, or pip resolves a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "$TORCH"
.venv/bin/pip install -q -e ".[$EXTRAS]"
rm -f .venv/.embedkit-setup-*
touch "$stamp"
