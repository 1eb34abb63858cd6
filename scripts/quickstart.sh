#!/usr/bin/env bash
# The main job end to end on the embedded default encoder (all-MiniLM-L6-v2, offline), ~1-2 minutes after
# set-up on a 2-core CPU: set up .venv, build PAL's persona preference data (K* = 2), extract its texts
# once, train a PAL-B head (K = 2) on the cached embeddings (fit-head prints its metrics on seen and unseen
# users, with a legend), then score new users: their weights fitted from a few pairs each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
EK=.venv/bin/embedkit
OUT=${1:-runs/quickstart}
$EK build persona --out "$OUT/persona" --K-star 2 --overwrite
$EK extract "$OUT/persona/texts.jsonl" --cache "$OUT/cache"
# fit-head trains twice (two progress bars): "fit pal-b" without 15% of the seen users (--prior-users),
# whose pairs then calibrate the few-shot prior as if they were new users; then "fit pal-b (all users)",
# training on from the first fit with everyone, those users included (the persona data has 200 seen users;
# with fewer than ~54 none are held out and there is one fit)
$EK fit-head --model pal-b --K 2 --pairs "$OUT/persona/pairs.jsonl" --cache "$OUT/cache" --out "$OUT/pal-b" --overwrite
# serve new users: fit each unseen user's weights from their few-shot pairs, score their held-out pairs
$EK score "$OUT/pal-b" --cache "$OUT/cache" --fewshot "$OUT/persona/fewshot.jsonl" --pairs "$OUT/persona/unseen_test.jsonl" --out "$OUT/scored.jsonl" --overwrite
