#!/usr/bin/env bash
# One prepared GPU run (issue 16): set up, benchmark at GPU sizes, execute every notebook.
#
#   benchmarks/device_run.sh OUT_DIR [--dry-run] [--cpu-tiny]
#
# Writes into OUT_DIR: setup.log, device.txt, entk.txt, scale.txt, notebooks/*.ipynb
# (executed copies), notebooks.txt (one "name rc seconds" line each), summary.txt.
# Budget: 8 minutes in all (DEVICE_RUN_BUDGET_S); each step gets a timeout from what
# is left, and a step that cannot start in time is skipped and listed as such.
#   --dry-run   print the steps and their commands, run nothing
#   --cpu-tiny  CPU smoke test of the script itself: no GPU install, tiny sizes
# DEVICE_RUN_NOTEBOOKS='notebooks/01_*.ipynb' limits the notebooks (default: all).
# Set-up: `python3 dev.py setup --gpu` (needs the package index); if it fails (an
# offline machine), the run goes on with the first python that imports JAX
# ($DEVICE_RUN_PYTHON, .venv/bin/python, python3) and device.txt says which backend.
set -u
OUT=${1:?usage: benchmarks/device_run.sh OUT_DIR [--dry-run] [--cpu-tiny]}
shift
DRY=0; TINY=0
for a in "$@"; do
  case $a in
    --dry-run) DRY=1 ;;
    --cpu-tiny) TINY=1 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
mkdir -p "$OUT/notebooks"
OUT=$(cd "$OUT" && pwd)
BUDGET=${DEVICE_RUN_BUDGET_S:-480}
START=$(date +%s)
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # several processes share one GPU
export MPLBACKEND=Agg PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

# step NAME MIN_SECONDS LOGFILE CMD...: run CMD with a timeout of what is left
step() {
  local name=$1 need=$2 log=$3; shift 3
  local t; t=$(left)
  if [ "$DRY" = 1 ]; then echo "[$name] $*"; return 0; fi
  if [ "$t" -lt "$need" ]; then
    echo "$name skipped: ${t}s left < ${need}s" | tee -a "$SUMMARY"; return 0
  fi
  local t0; t0=$(date +%s)
  timeout "$t" "$@" > "$log" 2>&1
  local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - t0 ))s (log $(basename "$log"))" | tee -a "$SUMMARY"
}

if [ "$TINY" = 1 ]; then
  export JAX_PLATFORMS=cpu
  ENTK_ARGS=(--n 64 --width 128 --repeats 1)
  SCALE_ARGS=(--ns 500,1000 --rank 200 --n-test 100 --k10-n-max 500)
  NB_PARALLEL=1
else
  ENTK_ARGS=(--n 2048 --repeats 5)
  SCALE_ARGS=(--ns 1000,10000,100000 --rank 4000 --k10-n-max 100000 --chunk 16384)
  NB_PARALLEL=3
fi

# 1. set-up
if [ "$TINY" = 1 ]; then
  step setup 5 "$OUT/setup.log" true
else
  step setup 60 "$OUT/setup.log" python3 dev.py setup --gpu
fi
# the first python that imports JAX: $DEVICE_RUN_PYTHON, the set-up's .venv, python3
PY=""
for cand in ${DEVICE_RUN_PYTHON:-} "$ROOT/.venv/bin/python" python3; do
  if [ -n "$cand" ] && "$cand" -c "import jax" > /dev/null 2>&1; then PY=$cand; break; fi
done
if [ -z "$PY" ]; then
  [ "$DRY" = 1 ] && PY=python3 || { echo "no python with JAX found" | tee -a "$SUMMARY"; exit 1; }
fi
[ "$DRY" = 1 ] || echo "python: $PY" >> "$SUMMARY"

# 2. which device
step device 10 "$OUT/device.txt" "$PY" -c \
  "import jax, ntk_explore as ne; print(ne.device_summary()); print('jax', jax.__version__, jax.default_backend())"

# 3. benchmarks at GPU sizes
step bench_entk 30 "$OUT/entk.txt" "$PY" benchmarks/bench_entk.py "${ENTK_ARGS[@]}"
# float32 matmuls at full precision (GPUs may default to TF32, ~1e-3: too coarse for CG)
step bench_scale 60 "$OUT/scale.txt" env JAX_DEFAULT_MATMUL_PRECISION=highest \
  "$PY" benchmarks/bench_scale.py "${SCALE_ARGS[@]}"

# 4. every notebook with the GPU defaults (ne.by_device picks the larger sizes)
run_nb() {  # run_nb NOTEBOOK: execute one copy into $OUT/notebooks
  local nb=$1 t0 rc; t0=$(date +%s)
  timeout "$NB_TIMEOUT" "$PY" -m jupyter nbconvert --to notebook --execute \
    --ExecutePreprocessor.timeout=-1 --output-dir "$OUT/notebooks" "$nb" \
    > "$OUT/notebooks/$(basename "$nb" .ipynb).log" 2>&1
  rc=$?
  echo "$(basename "$nb") rc=$rc $(( $(date +%s) - t0 ))s"
}
export -f run_nb
export OUT PY
if [ "$DRY" = 1 ]; then
  echo "[notebooks] run_nb on ${DEVICE_RUN_NOTEBOOKS:-notebooks/*.ipynb}, $NB_PARALLEL at a time"
  exit 0
fi
NB_TIMEOUT=$(( $(left) - 5 ))
export NB_TIMEOUT
if [ "$NB_TIMEOUT" -gt 30 ]; then
  # shellcheck disable=SC2086  # the glob is meant to expand
  ls ${DEVICE_RUN_NOTEBOOKS:-notebooks/*.ipynb} | xargs -P "$NB_PARALLEL" -I{} bash -c 'run_nb "$@"' _ {} \
    | tee "$OUT/notebooks.txt" >> "$SUMMARY"
else
  echo "notebooks skipped: ${NB_TIMEOUT}s left" | tee -a "$SUMMARY"
fi
echo "total $(( $(date +%s) - START ))s of ${BUDGET}s" | tee -a "$SUMMARY"
grep -h '=' "$OUT/scale.txt" 2>/dev/null | grep -E '^[a-z_]+=' >> "$SUMMARY"
! grep -q 'rc=[1-9]' "$SUMMARY"
