#!/bin/bash
# Issue 11's checks on a GPU machine that has PyTorch but no network (see DEVELOPERS.md):
#   bash scripts/gpu_device_run.sh check     make gpu-check ARGS=--claims, then the GPU tests of the captured step
#   bash scripts/gpu_device_run.sh options   scripts/gpu_speed_options.py --profile, then max-autotune
# Wheels in .whl/ (nbval, ipykernel, torchinfo and their dependencies) are installed into /tmp/site first;
# MNIST is read from .gpu/data unless MNISTLIB_DATA says otherwise. Logs and records go to $OUT
# (default runs/device). Each part stops itself before 10 minutes.
cd "$(dirname "$0")/.." || exit 2
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD:$PYTHONPATH MNISTLIB_DATA=${MNISTLIB_DATA:-$PWD/.gpu/data} PYTHONUNBUFFERED=1
OUT=${OUT:-runs/device}
mkdir -p "$OUT"
T0=$(date +%s)
say() { echo "[t=$(( $(date +%s) - T0 ))s] $*"; }
left() { echo $(( $1 - ($(date +%s) - T0) )); }
nvidia-smi -L
case "$1" in
check)
  # gpu-check first: it is what the issue asks, and it puts its extras (--claims) last. The GPU tests of
  # the captured and compiled step get what time is left.
  say "gpu-check"
  timeout "$(left 480)" make gpu-check PYTHON=python3 ARGS=--claims > "$OUT/gpucheck.log" 2>&1
  echo "gpu-check exit $?"
  grep -v "^  \|it/s\]" "$OUT/gpucheck.log" | tail -40
  cp runs/gpu-check/*.json "$OUT/" 2>/dev/null
  say "GPU tests"
  timeout "$(left 570)" python3 -m pytest -q -p no:cacheprovider tests/test_runs.py -k "graph or replay or compiled" 2>&1 \
    | tail -6 | tee "$OUT/tests.log" ;;
options)
  say "speed options"
  timeout "$(left 400)" python3 scripts/gpu_speed_options.py --epochs 3 --profile --out "$OUT/options.json" 2>&1 \
    | tee "$OUT/options.log" | grep -v "^[WV][0-9]"
  say "max-autotune"
  timeout "$(left 570)" python3 scripts/gpu_speed_options.py --epochs 3 --profile --out "$OUT/options-autotune.json" \
    --only "NCHW + compiled step" "NCHW + compiled step, max-autotune" 2>&1 | tee "$OUT/options-autotune.log" \
    | grep -v "^[WV][0-9]" ;;
*)
  echo "usage: bash scripts/gpu_device_run.sh check|options" >&2
  exit 2 ;;
esac
say done
