#!/usr/bin/env bash
# One GPU session, as one prepared command (device time is scarce: 15 minutes a session):
#   1. speed on the GPU: the learned model alone (bench.model_time --device cuda, with the digest of
#      its integers for the cross-device check) and whole encodes/decodes in one process (bench.speed);
#   2. cross-device streams: encode on cuda (bench.cross_device), verified on a CPU machine afterwards
#      with `python -m fpcodec.bench.cross_device verify $OUT/cuda_streams.tar`;
#   3. palette-loss training runs side by side on the GPU (models/TRAINING.md says which and why).
#
# The machine has torch, numpy, numba, scikit-image and safetensors but no PyAV, so clips travel as
# training packs (`python -m fpcodec.models.training.data pack ...`), prepared beside the repository:
#   runs/gpu/train.npz  ../shared/corpus/train + the palette corpus's train split (bench/palette_corpus.py)
#   runs/gpu/val.npz    ../shared/corpus/val
#   runs/gpu/check.npz  tests/data/carphone_000.gif, tests/data/carphonew_000_5f.gif, bikes480.gif
#                       (480x270, bench/results/speed_cli/bikes480.txt)
# and constriction's wheel for Python 3.12 in .whl/ (the device README's recipe). Run as
#   run(command="OUT=$OUT bash bench/gpu_session.sh", carry=["runs/gpu", ".whl"])
# TRAIN_S sets each training run's time budget (default 290 s); TRAIN_ONLY=1 skips 1 and 2.
# Before spending device time, SMOKE=1 runs the training commands here on the CPU for 3 steps each
# (OUT=/tmp/smoke SMOKE=1 bash bench/gpu_session.sh): a command that fails outright shows there, not
# on the GPU (the first session's runs all died at their first step; bench/results/gpu_h200).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder that comes back}
TRAIN_S=${TRAIN_S:-290}
DEV=cuda
SIZE="--crop 96 --batch 32 --time-budget $TRAIN_S"
PY=python3
VAL=runs/gpu/val.npz
if [ -n "${SMOKE:-}" ]; then  # a 5-frame validation clip: the whole val split takes minutes on a CPU
    DEV=cpu SIZE="--crop 32 --batch 2 --steps 3" TRAIN_ONLY=1 PY=${PYTHON:-python} VAL=tests/data/carphonew_000_5f.gif
else
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    mkdir -p /tmp/pkg/fpcodec
    for d in codec models bitstream bench; do ln -sfn "$PWD/$d" "/tmp/pkg/fpcodec/$d"; done
    export PYTHONPATH=/tmp/pkg:/tmp/site
fi
export PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba
{
    date -u
    nvidia-smi -L
    nproc
    $PY -c "import torch, numba, numpy; print('torch', torch.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__)"
} > "$OUT/machine.txt" 2>&1
LOG="$OUT/session.log"

# 1. speed, on a quiet machine (nothing else running yet)
[ -n "${TRAIN_ONLY:-}" ] || for dev in cuda cpu; do
    $PY -m fpcodec.bench.model_time runs/gpu/check.npz --frames 16 --repeats 3 --device $dev
done 2>&1 | tee -a "$LOG"
[ -n "${TRAIN_ONLY:-}" ] || $PY -m fpcodec.bench.speed runs/gpu/check.npz --model convlstm-hybrid-pal-int --repeats 3 --device cuda \
    2>&1 | tee -a "$LOG"

# 3. training, side by side (started before 2 so that they get the remaining time)
W=models/weights
# Epochs of 200 steps, so that a run cut short has still saved its best weights: in the first
# session three runs side by side on the H200 did not finish one epoch of 1000 steps in 290 s.
# --compile-loss: the palette loss's (batch x palette x pixels) arithmetic fused (Triton on the GPU);
# eager, one step of crop 96 x batch 32 is about 75 M entries a tensor, forward and backward
# (100 s on one core of the development CPU).
COMMON="--data runs/gpu/train.npz --val $VAL --loss palette --compile-loss --device $DEV $SIZE
        --steps-per-epoch 200 --seed 0 --threads 2 -q -y"
rm -rf /tmp/train && mkdir -p /tmp/train
T="timeout $((TRAIN_S + 120))"
$T $PY -m fpcodec.models.training.train $COMMON --model convlstm-hybrid --init $W/convlstm-hybrid-pal.safetensors \
    --lr 3e-4 -o "/tmp/train/hybrid-ft.safetensors" > "/tmp/train/hybrid-ft.log" 2>&1 &
$T $PY -m fpcodec.models.training.train $COMMON --model convlstm-hybrid --lr 2e-3 \
    -o "/tmp/train/hybrid-scratch.safetensors" > "/tmp/train/hybrid-scratch.log" 2>&1 &

# 2. cross-device streams (while the runs train: no timing here)
[ -n "${TRAIN_ONLY:-}" ] || $PY -m fpcodec.bench.cross_device encode runs/gpu/check.npz --device cuda --rgb \
    --models convlstm-hybrid-pal-int convlstm-hybrid-int -o "$OUT/cuda_streams.tar" 2>&1 | tee -a "$LOG"

wait
tar -cf "$OUT/train.tar" -C /tmp/train --exclude='*.ckpt.*' .
tail -n 3 /tmp/train/*.log
