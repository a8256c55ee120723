#!/usr/bin/env bash
# Issue 14's GPU measurement, one prepared run on a lent H100/H200 (the device tool's `run`).
# Prints, for one machine in one run: the per-seed loop's ms/step, the stacked ms/step for
# K = 1, 5, 10, the data generator's rate against what K = 10 consumes, and a measured slice
# of config/paper.yaml's toy arm (its real stacks, batch, checkpoints and evaluations) with
# the projected wall time of its 60,000 steps; then Bar B (11 models stacked) on a slice
# projected to 10^7 sequences, and the paper-scale SAEs stacked against one at a time per
# width (4,000 steps x 4,096). Takes ~6-8 minutes plus the machine's start.
#
# The device image has torch, safetensors, pandas, scipy, tqdm and pyyaml but not pydantic
# (polyrot.settings: config validation, the SAE settings). Before the call, here in the repo's root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     pydantic pydantic-core annotated-types typing-inspection typing-extensions
# then: run(command="bash benchmarks/gpu_paper_scale.sh", carry=[".whl"], timeout_s=540)
set -euo pipefail
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
OUT=${OUT:-$(mktemp -d)}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"
python3 benchmarks/train_stacked.py --device cuda --batch 512 --steps 200 --ks 1,5,10 --workers 8 \
    --paper --paper-steps 3000 2>&1 | tee "$OUT/train_stacked.txt"
# Bar B: 11 models stacked, a 500,000-sequence slice projected to 10^7 (both statistics)
python3 benchmarks/paper_scale_probe.py --steps 200 --bar-samples 500000 --bar-models 11 2>&1 | tee "$OUT/paper_scale_probe.txt"
# SAEs at 4,000 x 4,096: stacked against one at a time, per width (the toy's x8 and x32, Pythia's x8)
for spec in "--k 10 --d 64 --expansion 8" "--k 10 --d 64 --expansion 32" "--k 9 --d 512 --expansion 8"; do
    # shellcheck disable=SC2086
    python3 benchmarks/sae_stacked.py $spec --n 200000 --steps 4000 --batch 4096 --device cuda 2>&1 | tee -a "$OUT/sae_stacked.txt"
done
