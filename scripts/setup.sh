#!/usr/bin/env bash
# Create .venv and install embedkit with its test and benchmark extras. Idempotent and quick when done.
# Environment pins live here, not in the package metadata:
#   EMBEDKIT_TORCH   torch (and torchvision) requirements installed first, before anything that depends on
#                    them (otherwise pip resolves whatever torch build it likes). Default:
#                    "torch==2.14.1 torchvision==0.29.1", the pair whose torchvision imports beside its torch
#                    on a CPU-only machine (open_clip needs torchvision); ~5.5 GB. On a GPU box set e.g.
#                    EMBEDKIT_TORCH="torch torchvision" to let pip pick the CUDA build for your driver.
#   EMBEDKIT_EXTRAS  extras to install (default: dev,faiss-cpu,bench,clip,llm,distributed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH=${EMBEDKIT_TORCH:-torch==2.14.1 torchvision==0.29.1}
EXTRAS=${EMBEDKIT_EXTRAS:-dev,faiss-cpu,bench,clip,llm,distributed}
stamp=".venv/.embedkit-setup-$( (cat setup.cfg pyproject.toml; echo "$TORCH $EXTRAS") | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first: a package that depends on it would otherwise pull a build of pip's choosing.
# shellcheck disable=SC2086 # TORCH is a list of requirements
.venv/bin/pip install -q $TORCH
.venv/bin/pip install -q -e ".[$EXTRAS]"
rm -f .venv/.embedkit-setup-*
touch "$stamp"
