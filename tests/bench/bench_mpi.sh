#!/usr/bin/env bash
# `make bench` section: data-parallel training on MPI ranks (train's
# `distributed`). For ResNet-20 (32x32, batch 128) and ResNet-18 (224x224,
# batch 32), the same steps as 1 rank x 2 threads and as 2 ranks x 1 thread
# (`mpirun --oversubscribe -n 2 runpipe --threads 1`): training seconds per
# step (the fit stage's `seconds`, data generation excluded; it includes
# loading: hflip + padded random crop per sample, in the step's thread
# (workers: 0), and each rank loads only its rows), the speed-up,
# and from rank 0's data-parallel log line the gradient bytes summed per step,
# the time from the first bucket's MPI_Iallreduce to the end of the
# reduction, and the part of it spent waiting after the backward (the
# communication share of the step). Wall times depend on what else runs on
# the machine: the header prints the load average and says when the machine
# was busy (1-minute load >= 1.5 on 2 cores); the byte count does not.
# RP_BENCH_MPI_STEPS20 / RP_BENCH_MPI_STEPS18: steps measured (10 / 3).
set -u
cd "$(dirname "$0")/../.."
BUILD=${RUNPIPE_BUILD:-build}
if ! command -v mpirun >/dev/null 2>&1 || [ ! -f "$BUILD/lib/runpipe/comm_mpi.so" ]; then
    echo
    echo "== data-parallel on MPI: skipped (no mpirun or $BUILD/lib/runpipe/comm_mpi.so; make deps installs Open MPI)"
    exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export RUNPIPE_CACHE=off

pipeline() { # $1 arch, $2 size, $3 batch, $4 steps
    cat <<YAML
runpipe: 1
name: bench-mpi
seed: 1
stages:
  - id: data
    use: data.synthetic
    with: {train_count: $(($3 * $4)), test_count: 0, size: $2, classes: [circle, square, triangle, cross, ring, star, diamond, hexagon]}
  - id: aug
    use: augment
    in: {data: data.train}
    with:
      transforms: [hflip, {random_crop: {size: $2, padding: $(($2 / 8))}}]
  - id: net
    use: model.build
    with: {arch: $1, classes: 8}
  - id: loss
    use: loss
  - id: fit
    use: train
    in: {model: net, loss: loss, train: aug}
    with: {epochs: 1, batch_size: $3, checkpoint: false, workers: 0,
           optimizer: {sgd: {lr: 0.01, momentum: 0.9, weight_decay: 0.0005}}}
YAML
}

fit_seconds() {
    /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fit"]["scalars"]["seconds"])' "$1"
}

load() { cut -d' ' -f1 /proc/loadavg; }
busy() { awk -v l="$(load)" 'BEGIN { exit !(l >= 1.5) }'; }
echo
echo "== data-parallel on MPI (Open MPI $(mpirun --version 2>/dev/null | head -1 | awk '{print $NF}'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
busy && echo "   taken under load (1-minute load $(load) >= 1.5): wall times are inflated and noisy"
printf '%-9s %5s %5s %7s | %12s %12s %7s | %9s %11s %11s %7s\n' model size batch steps \
    "1x2 s/step" "2x1 s/step" speedup "MB/step" "comm ms" "wait ms" "wait %"
for spec in "resnet20 32 128 ${RP_BENCH_MPI_STEPS20:-10}" "resnet18 224 32 ${RP_BENCH_MPI_STEPS18:-3}"; do
    set -- $spec
    pipeline "$1" "$2" "$3" "$4" > "$TMP/$1.yaml"
    "$BUILD/bin/runpipe" run "$TMP/$1.yaml" --out "$TMP/$1-1" --threads 2 >"$TMP/$1-1.log" 2>&1 ||
        { echo "bench_mpi: $1 one-process run failed:"; tail -5 "$TMP/$1-1.log"; exit 1; }
    mpirun --allow-run-as-root --oversubscribe -n 2 "$BUILD/bin/runpipe" run "$TMP/$1.yaml" \
        --out "$TMP/$1-2" --threads 1 >"$TMP/$1-2.log" 2>&1 ||
        { echo "bench_mpi: $1 2-rank run failed:"; tail -5 "$TMP/$1-2.log"; exit 1; }
    s1=$(fit_seconds "$TMP/$1-1/metrics.json")
    s2=$(fit_seconds "$TMP/$1-2/metrics.json")
    # "fit: data-parallel: N gradient buckets, X MB summed per step; per step A ms ... B ms of it waiting"
    line=$(grep -m1 'data-parallel: .* MB summed per step' "$TMP/$1-2.log")
    mb=$(echo "$line" | sed 's/.*, \([0-9.]*\) MB summed.*/\1/')
    comm=$(echo "$line" | sed 's/.*per step \([0-9.]*\) ms from.*/\1/')
    wait=$(echo "$line" | sed 's/.*, \([0-9.]*\) ms of it waiting.*/\1/')
    awk -v m="$1" -v sz="$2" -v b="$3" -v n="$4" -v s1="$s1" -v s2="$s2" -v mb="$mb" -v c="$comm" -v w="$wait" \
        'BEGIN { printf "%-9s %5d %5d %7d | %12.3f %12.3f %6.2fx | %9.2f %11.1f %11.1f %6.1f%%\n",
                 m, sz, b, n, s1 / n, s2 / n, s1 / s2, mb, c, w, 100 * (w / 1000) / (s2 / n) }'
done
echo "(MB/step: gradient bytes each rank sends into the allreduce per step; comm ms: first"
echo " bucket started -> last reduction done; wait ms: of that, after the backward ended;"
echo " load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
