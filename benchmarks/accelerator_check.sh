#!/usr/bin/env bash
# The checks that validate revseq on an accelerator host (GPU or TPU), in one go:
#   bash benchmarks/accelerator_check.sh [OUT_DIR]
# the install check (scripts/doctor.py), the parity suite on the device JAX picks, and the
# default preset trained as a user trains it (timed). Needs jax for the device, torch, flax,
# optax, safetensors, seaborn, tqdm and pytest; runs from the repository root, no install.
set -o pipefail
out=${1:-${OUT:-accelerator-check}}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L 2>/dev/null | sed -E 's/ \(UUID: [^)]*\)//'   # the model, not the card's identifier
  python3 -c "import jax, torch; print('jax', jax.__version__, jax.devices(), '| torch', torch.__version__)"
} 2>&1 | tee "$out/env.txt"
timeout 200 python3 scripts/doctor.py 2>&1 | tee "$out/doctor.txt"
start=$(date +%s%N)
timeout 150 python3 scripts/train.py --backend jax --jax-cache '' --out "$out/default-run" 2>&1 \
  | grep -E "Backend|Compiled|Epoch|Exact Match" | tee "$out/train.txt"
echo "train.py, default preset, process start to exit: $(( ($(date +%s%N) - start) / 1000000 )) ms" \
  | tee -a "$out/train.txt"
rm -rf "$out/default-run"
timeout 330 python3 -m pytest parity_tests -q -p no:cacheprovider 2>&1 | tail -25 | tee "$out/parity.txt"
