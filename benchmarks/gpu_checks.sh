#!/usr/bin/env bash
# The checks a CUDA machine is for, in one run: `pytest -m gpu` (the real CUDA paths), the
# loop's 10- and 40-image rounds (2 seeds, the suggested order, shipped proposals scored),
# one 160-image round, and a 40-image `segapp train` round with and without data-loading
# processes (the whole process timed, as the window waits for it), a profile of that
# round, and that round cold against started ahead (`segapp train-standby`).
#
#     DATA=../shared/datasets/human-segmentation OUT=gpu-out bash benchmarks/gpu_checks.sh
#     STAGES="pytest-gpu round40 round40-noworkers" bash benchmarks/gpu_checks.sh  # some
#
# Each stage has a time limit of its own, so that one stuck stage leaves the others their
# time; the logs go to $OUT.
set -u
OUT=${OUT:-gpu-out}
DATA=${DATA:-../shared/datasets/human-segmentation}
STAGES=${STAGES:-pytest-gpu loop k160 round40 round40-noworkers profile round-start}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    nproc
    python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
} 2>&1 | tee "$OUT/env.txt"

stage() {  # stage NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    [[ " $STAGES " == *" $name "* ]] || return 0
    echo "== $name ($(date +%T))"
    local t0=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    echo "rc $? in $((SECONDS - t0)) s" | tee -a "$OUT/$name.log"
    tail -n 12 "$OUT/$name.log"
}

P40=$(mktemp -d)  # ids 1..40 with their masks: a 40-image round from the default preset
mkdir -p "$P40/images" "$P40/masks"
for i in $(seq 1 40); do
    ln -s "$(realpath "$DATA"/images/"$i".*)" "$P40/images/"
    ln -s "$(realpath "$DATA/masks/$i.png")" "$P40/masks/"
done

# compiled once, as an installed package is: a fresh copy's first process would compile
# every module (6 s under the profiler in stop 46) and count it in the first round
python3 -m compileall -q segapp benchmarks ${PYTHONPATH:+${PYTHONPATH//:/ }} >/dev/null 2>&1

stage pytest-gpu 150 python3 -m pytest -p no:cacheprovider -m gpu tests/gpu -rs -v
stage loop 240 python3 benchmarks/bench_active_loop.py --data "$DATA" --rounds 10,40 \
    --seeds 0,1 --order suggested --device cuda --quick
stage k160 150 python3 benchmarks/bench_fewshot.py --data "$DATA" --k 160 --device cuda
stage round40 90 python3 -m segapp.cli.main train "$P40" --out "$P40/a" --device cuda
stage round40-noworkers 90 python3 -m segapp.cli.main train "$P40" --out "$P40/b" \
    --device cuda --workers 0
# where a 40-image round's time goes, the 60 costliest calls in one file ($OUT holds at most
# 8 files on the device machine's way back: keep to the logs above and this one)
stage profile 120 python3 -m cProfile -o "$P40/round.prof" -m segapp.cli.main train "$P40" \
    --out "$P40/c" --device cuda
[[ " $STAGES " == *" profile "* ]] && python3 -c "
import pstats, sys
pstats.Stats(sys.argv[1], stream=open(sys.argv[2], 'a')).sort_stats('cumulative').print_stats(60)
" "$P40/round.prof" "$OUT/profile.log"
# a round from a cold process against the one the window starts ahead (train-standby)
stage round-start 150 python3 benchmarks/bench_round_start.py --data "$DATA" --device cuda
