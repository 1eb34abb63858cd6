#!/usr/bin/env bash
# The main job end to end on the embedded default encoder (all-MiniLM-L6-v2, offline), ~1-2 minutes:
# set up .venv, build PAL's persona preference data (K* = 2), extract its texts once, train a PAL-B
# head (K = 2) on the cached embeddings, and evaluate it on seen and unseen users.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
EK=.venv/bin/embedkit
OUT=${1:-runs/quickstart}
$EK build persona --out "$OUT/persona" --K-star 2 --overwrite
$EK extract "$OUT/persona/texts.jsonl" --cache "$OUT/cache"
$EK cache ls --cache "$OUT/cache"
$EK fit-head --model pal-b --K 2 --pairs "$OUT/persona/pairs.jsonl" --cache "$OUT/cache" --out "$OUT/pal-b" --overwrite
$EK eval "$OUT/pal-b" --pairs "$OUT/persona/pairs.jsonl" --cache "$OUT/cache"
