#!/usr/bin/env bash
# Everything to check and measure on an accelerator host (GPU or TPU), in about 9 minutes:
#   bash benchmarks/accelerator_check.sh [--smoke] [OUT_DIR]
# the install check (revseq doctor); the parity suite on the device JAX picks; the notebook's own
# training loop and `--preset seed` for two epochs each, epoch times side by side; the default
# and the large-batch preset's whole runs; the train step's time at batch 16 to 1024, with the
# decoder scan unrolled, and (GPU) with XLA's command buffers extended to while loops.
# --smoke: the CPU run CI makes so that the script cannot rot: no GPU-only piece, no parity
# suite (the first test tier runs it), small sizes, doctor timing the tiny model. Runs from
# the repository root, no install.
set -o pipefail
smoke=0
if [ "${1:-}" = "--smoke" ]; then smoke=1; shift; fi
out=${1:-${OUT:-accelerator-check}}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 REVSEQ_JAX_CACHE=
py() { timeout "$1" python3 "${@:2}"; }
gpu=$(nvidia-smi -L 2>/dev/null | sed -E 's/ \(UUID: [^)]*\)//')  # the model, not the card's id
{ echo "${gpu:-no NVIDIA GPU}"
  python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
} 2>&1 | tee "$out/env.txt"
doctor=(); [ $smoke = 1 ] && doctor=(--preset tiny)  # the speed line on the tiny model
py 200 -m revseq doctor "${doctor[@]}" 2>&1 | tee "$out/doctor.txt"
if [ $smoke = 0 ]; then
  py 240 -m pytest parity_tests -q -x -p no:cacheprovider 2>&1 | tail -5 | tee "$out/parity.txt"
  py 120 -m benchmarks.accelerator epochs --epochs 2 2>&1 | tee "$out/epochs.txt"
  py 120 -m benchmarks.accelerator runs 2>&1 | tee "$out/runs.txt"
  py 60 -m benchmarks.accelerator steps --sizes 16,64,256,1024 2>&1 | tee "$out/steps.txt"
  if [ -n "$gpu" ]; then
    XLA_FLAGS=--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL \
      py 60 -m benchmarks.accelerator steps --sizes 16,256,1024 --unroll 1 2>&1 \
      | sed 's/^/command buffers +WHILE,+CONDITIONAL: /' | tee -a "$out/steps.txt"
  fi
else
  py 300 -m benchmarks.accelerator epochs --epochs 1 --n-train 640 --n-eval 64 2>&1 | tee "$out/epochs.txt"
  py 300 -m benchmarks.accelerator steps --sizes 16 --unroll 1,2 2>&1 | tee "$out/steps.txt"
fi
