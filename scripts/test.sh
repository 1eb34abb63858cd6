#!/usr/bin/env bash
# Set up .venv if needed, lint (ruff, and import-linter's layer contracts in pyproject.toml), then run the
# test suite. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check --quiet .
.venv/bin/lint-imports --no-logo --no-cache >/dev/null || .venv/bin/lint-imports --no-logo --no-cache  # the layers of docs/architecture.md: an upward import fails the build
exec .venv/bin/python -m pytest -q "$@"
