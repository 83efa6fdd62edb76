#!/usr/bin/env bash
# `make bench` section: the cost of S2's cam_erasing hook. One ResNet-20
# training epoch at batch 128 on 32x32 colour images (data.synthetic, flip +
# pad-4 crop, SGD 0.1 / momentum 0.9 / wd 5e-4), plain and with
# {cam_erasing: {warmup: 0}} (every batch of 128 trained with its CAM-erased
# copy: 256 per step, plus one Grad-CAM pass = one forward + a backward from
# the logits to the last feature map). Measures RP_BENCH_CAM_BATCHES batches
# (default 100) and extrapolates to CIFAR-10's 50,000 images (391 batches) by
# the per-batch time; the fit stage's own `seconds` (training only, no data
# generation). Target: ratio <= 2.6 (the doubled batch alone is 2x).
# Plain and cam runs alternate (RP_BENCH_CAM_REPS rounds, default 2; the
# fastest of each kind counts), so both see the same machine. The CPU time
# of the whole process (user + sys, data generation included: the same in
# both) is printed too: on a shared machine it moves much less with the load
# than wall time does.
set -u
cd "$(dirname "$0")/../.."
BUILD=${RUNPIPE_BUILD:-build}
THREADS=${RP_BENCH_THREADS:-2}
NB=${RP_BENCH_CAM_BATCHES:-100}
REPS=${RP_BENCH_CAM_REPS:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/cam.yaml" <<YAML
runpipe: 1
name: bench-cam
seed: 1
vars:
  hooks: []
stages:
  - id: data
    use: data.synthetic
    with:
      train_count: $((NB * 128))
      test_count: 0
      size: 32
      classes: [circle, square, triangle, cross, ring, star, diamond, hexagon]
  - id: augmented
    use: augment
    in: {data: data.train}
    with:
      transforms: [hflip, {random_crop: {size: 32, padding: 4}}]
  - id: net
    use: model.build
    with: {arch: resnet20, classes: 8}
  - id: loss
    use: loss
    with: {loss: cross_entropy}
  - id: fit
    use: train
    in: {model: net, loss: loss, train: augmented}
    with:
      epochs: 1
      batch_size: 128
      checkpoint: false
      optimizer: {sgd: {lr: 0.1, momentum: 0.9, weight_decay: 0.0005}}
      hooks: \${vars.hooks}
YAML
secs() { # $1 = label, rest = extra args; prints "fit-seconds cpu-seconds"
    local out="$TMP/$1"
    rm -rf "$out"
    /usr/bin/time -f '%U %S' -o "$TMP/$1.time" \
        "$BUILD/bin/runpipe" run "$TMP/cam.yaml" --out "$out" --threads "$THREADS" --quiet --no-cache \
        "${@:2}" >"$TMP/$1.log" 2>&1 || { echo "bench_cam: $1 run failed:" >&2; tail -5 "$TMP/$1.log" >&2; exit 1; }
    /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fit"]["scalars"]["seconds"])' \
        "$out/metrics.json" | tr '\n' ' '
    awk '{ print $1 + $2 }' "$TMP/$1.time"
}
min2() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
echo
echo "== cam_erasing: ResNet-20 training epoch, batch 128 ($NB batches measured, extrapolated to 391 = 50,000 images; $THREADS threads, fastest of $REPS alternating runs)"
plain=; cam=; pcpu=; ccpu=
for r in $(seq "$REPS"); do
    read -r w c <<< "$(secs plain)"
    [ -n "$c" ] || exit 1
    plain=$(min2 "$plain" "$w"); pcpu=$(min2 "$pcpu" "$c")
    read -r w c <<< "$(secs cam --set 'vars.hooks=[{cam_erasing: {warmup: 0}}]')"
    [ -n "$c" ] || exit 1
    cam=$(min2 "$cam" "$w"); ccpu=$(min2 "$ccpu" "$c")
done
awk -v p="$plain" -v c="$cam" -v nb="$NB" -v pc="$pcpu" -v cc="$ccpu" 'BEGIN {
    printf "%-22s %9s %12s %14s %12s\n", "", "measured", "per batch", "CIFAR-10 epoch", "process CPU";
    printf "%-22s %8.1fs %10.1fms %13.0fs %11.1fs\n", "plain", p, 1000 * p / nb, p / nb * 391, pc;
    printf "%-22s %8.1fs %10.1fms %13.0fs %11.1fs\n", "cam_erasing (2B/step)", c, 1000 * c / nb, c / nb * 391, cc;
    r = c / p;
    printf "ratio %.2fx wall, %.2fx process CPU (target <= 2.6x: %s)\n", r, cc / pc, r <= 2.6 ? "met" : "MISSED";
}'
