#!/usr/bin/env bash
# Conversion-learning search speed (the `convert` stage): candidates per
# second of the incremental evaluation (prefix reuse; rank-1 logit updates
# for the columns of the output layer) against re-evaluating every candidate
# from scratch (`incremental: false`), on S0's MNIST CNN with 2 x 5,000
# Fashion-MNIST selection images (clean + upper_bar). Target and donor are
# untrained (model.build): the timing does not depend on the weights.
# The from-scratch runs use a coarser step (fewer candidates); candidates/s
# is what is compared. Needs Debian's dataset-fashion-mnist.
set -u
cd "$(dirname "$0")/../.."
BUILD=${RUNPIPE_BUILD:-build}
THREADS=${RP_BENCH_THREADS:-2}
DATA=/usr/share/datasets/fashion-mnist
if [ ! -d "$DATA" ]; then echo "bench_convert: $DATA missing (make deps)"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# one convert stage per case: NAME UNIT LAYER STEP INCREMENTAL
cases="cols_inc columns fc 1 true
cols_naive columns fc 388 false
rows_conv2_inc rows conv2 1 true
rows_conv2_naive rows conv2 16 false
layers_inc layers - 1 true
layers_naive layers - 1 false"
{
    printf 'runpipe: 1\nname: bench-convert\nseed: 1\nstages:\n'
    printf '  - id: fm\n    use: data.idx\n    with: {dir: %s}\n' "$DATA"
    printf '  - id: occ\n    use: augment\n    in: {data: fm.test}\n    with: {transforms: [upper_bar]}\n'
    printf '  - id: t\n    use: model.build\n    with: {arch: mnist_cnn, classes: 10}\n'
    printf '  - id: d\n    use: model.build\n    with: {arch: mnist_cnn, classes: 10}\n'
    echo "$cases" | while read -r name unit layer step inc; do
        printf '  - id: %s\n    use: convert\n    in: {target: t, donors: [d], select: [fm.test, occ]}\n' "$name"
        if [ "$layer" = - ]; then
            printf '    with: {unit: %s, incremental: %s, limit: 5000}\n' "$unit" "$inc"
        else
            printf '    with: {unit: %s, layers: [%s], step: %s, incremental: %s, limit: 5000}\n' \
                "$unit" "$layer" "$step" "$inc"
        fi
    done
} > "$tmp/bench.yaml"
"$BUILD/bin/runpipe" run "$tmp/bench.yaml" --out "$tmp/run" --threads "$THREADS" > "$tmp/log" 2>&1 || {
    echo "bench_convert: run failed"; tail -n 20 "$tmp/log"; exit 1; }
# "<id>: round 1/1, ... best of N candidates ...; candidates scored in S s (R/s)"
rate() { # "N S N/S" of stage $1
    grep "^$1: round" "$tmp/log" |
        sed -E 's/.*best of ([0-9]+) candidates.*scored in ([0-9.]+) s .*/\1 \2/' |
        awk '{ printf "%s %s %.2f\n", $1, $2, ($2 > 0 ? $1 / $2 : 0) }'
}
printf '%-34s %10s %10s %12s %12s %9s\n' search candidates seconds "cand/s" "naive cand/s" speed-up
for pair in "cols:fc columns, 2 x 5,000 images" "rows_conv2:conv2 rows (filters)" "layers:layer subsets"; do
    key=${pair%%:*}; label=${pair#*:}
    read -r n s r <<< "$(rate "${key}_inc")"
    read -r nn ns nr <<< "$(rate "${key}_naive")"
    printf '%-34s %10s %10s %12s %12s %8.1fx\n' "$label" "$n" "$s" "$r" "$nr" \
        "$(awk -v a="$r" -v b="$nr" 'BEGIN { print (b > 0 ? a / b : 0) }')"
done
