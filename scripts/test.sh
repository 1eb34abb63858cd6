#!/usr/bin/env bash
# Set up .venv if needed, lint (ruff, and import-linter's layer contracts in pyproject.toml), then run the
# test suite (a per-test timeout from pyproject.toml). Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check --quiet .
.venv/bin/lint-imports --no-logo --no-cache >/dev/null || .venv/bin/lint-imports --no-logo --no-cache  # the layers of docs/architecture.md: an upward import fails the build
# No -q: each file's name is printed as its tests run, so a slow or stuck test shows where it is; the
# 15 slowest tests are listed at the end.
exec .venv/bin/python -m pytest --durations=15 "$@"
