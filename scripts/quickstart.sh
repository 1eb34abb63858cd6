#!/usr/bin/env bash
# The main job end to end on the embedded default encoder (all-MiniLM-L6-v2, offline):
# set up .venv, then embed the 6,000 persona statements into runs/quickstart/cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
EK=.venv/bin/embedkit
OUT=${1:-runs/quickstart}
$EK extract data/persona/*.jsonl --text-field statement --cache "$OUT/cache"
$EK cache ls --cache "$OUT/cache"
$EK cache verify --cache "$OUT/cache"
