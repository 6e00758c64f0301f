#!/bin/bash
# The GPU checks on a machine that has a GPU and PyTorch but no network (docs/development.md):
#   bash scripts/gpu_device_run.sh check     make gpu-check ARGS=--claims, then the GPU tests of the captured step
#   bash scripts/gpu_device_run.sh options   scripts/gpu_speed_options.py --profile, then max-autotune
# Wheels in .whl/ (nbval, ipykernel, torchinfo and their dependencies) are installed into /tmp/site first;
# MNIST is read from .gpu/data unless MNISTLIB_DATA says otherwise. Logs and records go to $OUT
# (default runs/device). LIMIT (seconds, default 570) bounds the whole script: each part gets what is
# left of it, so the output of the parts that finished always comes back.
cd "$(dirname "$0")/.." || exit 2
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD:$PYTHONPATH MNISTLIB_DATA=${MNISTLIB_DATA:-$PWD/.gpu/data} PYTHONUNBUFFERED=1
OUT=${OUT:-runs/device}
LIMIT=${LIMIT:-570}
mkdir -p "$OUT"
T0=$(date +%s)
say() { echo "[t=$(( $(date +%s) - T0 ))s] $*"; }
left() { echo $(( LIMIT - $1 - ($(date +%s) - T0) )); }  # seconds left, keeping $1 for the parts after
nvidia-smi -L
case "$1" in
check)
  # gpu-check first (its --claims extras run last), then the GPU tests of the captured and compiled step.
  say "gpu-check"
  timeout "$(left 90)" make gpu-check PYTHON=python3 ARGS=--claims > "$OUT/gpucheck.log" 2>&1
  echo "gpu-check exit $?"
  grep -v "^  \|it/s\]" "$OUT/gpucheck.log" | tail -40
  cp runs/gpu-check/*.json "$OUT/" 2>/dev/null
  say "GPU tests"
  timeout "$(left 0)" python3 -m pytest -q -p no:cacheprovider tests/core/test_runs.py -k "graph or replay or compiled" 2>&1 \
    | tail -6 | tee "$OUT/tests.log" ;;
options)
  say "speed options"
  timeout "$(left 170)" python3 scripts/gpu_speed_options.py --epochs 3 --profile --out "$OUT/options.json" 2>&1 \
    | tee "$OUT/options.log" | grep -v "^[WV][0-9]"
  say "max-autotune"
  timeout "$(left 0)" python3 scripts/gpu_speed_options.py --epochs 3 --profile --out "$OUT/options-autotune.json" \
    --only "NCHW + compiled step" "NCHW + compiled step, max-autotune" 2>&1 | tee "$OUT/options-autotune.log" \
    | grep -v "^[WV][0-9]" ;;
*)
  echo "usage: bash scripts/gpu_device_run.sh check|options" >&2
  exit 2 ;;
esac
say done
