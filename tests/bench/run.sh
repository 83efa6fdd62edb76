#!/usr/bin/env bash
# `make bench`: runpipe vs PyTorch speed, side by side (not part of `make test`).
#
# Sections, in order:
#   1. conv kernels  build/bench/bench_conv vs torch_ref.py --layers: per-geometry
#                    forward / backward-data / backward-weight GFLOP/s
#   2. models        build/bench/bench_models vs torch_ref.py --models: training
#                    and inference img/s, ratios, peak RSS (one process per model,
#                    PyTorch once per layout, the faster layout counts), and
#                    runpipe's share of the machine's FMA peak (measured once
#                    here: `bench_models peak`) from each model's analytic FLOPs
#   3. extra         every other build/bench/bench_* program (from tests/bench/bench_*.c,
#                    run without arguments) and every tests/bench/bench_*.sh script:
#                    the hook for further sections (e.g. data loading throughput)
# Environment: RUNPIPE_BUILD (build dir), RP_BENCH_THREADS (2), RP_BENCH_MODELS
# (space-separated subset), RP_BENCH_LAYERS=0 skips section 1, RP_BENCH_TORCH=0
# skips PyTorch. Budget: the whole run stays well under 10 minutes on 2 cores.
set -u
cd "$(dirname "$0")/../.."
BUILD=${RUNPIPE_BUILD:-build}
THREADS=${RP_BENCH_THREADS:-2}
MODELS=${RP_BENCH_MODELS:-"mnist_cnn cifar_cnn resnet20 resnet18 resnet18_frozen"}
PY=/usr/bin/python3
TORCH=${RP_BENCH_TORCH:-1}
if [ "$TORCH" = 1 ] && ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
    echo "note: $PY has no torch/torchvision: PyTorch columns skipped"
    TORCH=0
fi
export OMP_NUM_THREADS=$THREADS
# Both sides use libgomp. Its default spin-waiting at barriers steals the cores
# from the working threads when the machine is busier than its core count
# (2-5x slower for both runpipe and PyTorch): on a loaded machine both run with
# passive waiting unless OMP_WAIT_POLICY is set; the header says which.
if [ -z "${OMP_WAIT_POLICY:-}" ] &&
    awk -v n="$(nproc)" '{ exit !($1 > n) }' /proc/loadavg; then
    export OMP_WAIT_POLICY=passive
fi
start=$(date +%s)

bins=$(ls tests/bench/bench_*.c 2>/dev/null | sed "s|tests/bench/\(.*\)\.c|$BUILD/bench/\1|")
# shellcheck disable=SC2086
make --no-print-directory -s $bins || { echo "bench: build failed"; exit 1; }

echo "== runpipe benchmark: $THREADS threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-default}"

# ---- 1. convolution kernels ---------------------------------------------------
if [ "${RP_BENCH_LAYERS:-1}" != 0 ]; then
    echo
    echo "== conv kernels (median of 5 repetitions)"
    echo "-- runpipe"
    "$BUILD/bench/bench_conv" "$THREADS" 5
    if [ "$TORCH" = 1 ]; then
        echo "-- PyTorch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null) (best of NCHW / channels_last)"
        "$PY" tests/bench/torch_ref.py --layers --threads "$THREADS" --reps 5 2>/dev/null
    fi
fi

# ---- 2. models -----------------------------------------------------------------
echo
echo "== models: training (fwd + loss + bwd + optimizer step) and inference, img/s, median of 3 runs"
echo "(training as the train stage runs it: Winograd convolutions where faster$([ "${RP_BENCH_WINOGRAD:-1}" = 0 ] && echo ' OFF (RP_BENCH_WINOGRAD=0)'), relus folded$([ -n "${RP_NO_FUSE:-}" ] && [ "$RP_NO_FUSE" != 0 ] && echo ' OFF (RP_NO_FUSE)'))"
# FMA peak of this machine (THREADS threads, register-only zmm FMA loop): the
# yardstick of the %peak columns, measured once so all models share it
RP_BENCH_PEAK=$("$BUILD/bench/bench_models" peak "$THREADS" | awk '/^peak_gflops/ { print $2 }')
export RP_BENCH_PEAK
echo "FMA peak: ${RP_BENCH_PEAK:-?} GFLOP/s ($THREADS threads; load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-16s %10s %10s %6s | %10s %10s %6s | %8s %8s | %7s %6s %7s %6s  %s\n' model "rp train" \
    "pt train" ratio "rp infer" "pt infer" ratio "rp MB" "pt MB" "tr GF/s" "%peak" "in GF/s" \
    "%peak" "pt layouts"
field() { # field NAME LINE: the value after NAME in "model x train 1 infer 2 rss_mb 3"
    echo "$2" | awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit }}'
}
for m in $MODELS; do
    rp=$("$BUILD/bench/bench_models" "$m" "$THREADS" 2>&1 | grep '^model ' | tail -n 1)
    if [ -z "$rp" ] || echo "$rp" | grep -q unavailable; then
        echo "$m: runpipe ${rp:-failed (no output)}"
        rp=""
    fi
    # PyTorch: each measure from the better layout for that measure
    # (channels_last is often faster at inference and slower at training;
    # memory is the smaller peak of the two)
    ptt=""; pti=""; pm=""; pl=""
    if [ "$TORCH" = 1 ]; then
        for layout in nchw cl; do
            line=$("$PY" tests/bench/torch_ref.py --models --only "$m" --layout "$layout" \
                   --threads "$THREADS" 2>/dev/null | grep '^model ' | tail -n 1)
            [ -z "$line" ] && continue
            tr=$(field train "$line"); ti=$(field infer "$line")
            if [ -z "$ptt" ] || awk -v a="$tr" -v b="$ptt" 'BEGIN { exit !(a > b) }'; then
                ptt=$tr; pl="train:$layout"
            fi
            mb=$(field rss_mb "$line")
            if [ -z "$pm" ] || awk -v a="$mb" -v b="$pm" 'BEGIN { exit !(a < b) }'; then pm=$mb; fi
            if [ -z "$pti" ] || awk -v a="$ti" -v b="$pti" 'BEGIN { exit !(a > b) }'; then
                pti=$ti; il=$layout
            fi
        done
        [ -n "$pl" ] && pl="$pl infer:$il"
    fi
    rt=$(field train "$rp"); ri=$(field infer "$rp"); rm=$(field rss_mb "$rp")
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b; else printf "-" }'; }
    # achieved GFLOP/s (img/s x analytic GFLOP/img) and share of the FMA peak
    gfs() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "") printf "%.1f", a * b; else printf "-" }'; }
    pct() { awk -v a="$1" 'BEGIN { if (a != "") printf "%.1f%%", 100 * a; else printf "-" }'; }
    printf '%-16s %10s %10s %6s | %10s %10s %6s | %8s %8s | %7s %6s %7s %6s  %s\n' "$m" "${rt:--}" \
        "${ptt:--}" "$(ratio "$rt" "$ptt")" "${ri:--}" "${pti:--}" "$(ratio "$ri" "$pti")" "${rm:--}" \
        "${pm:--}" "$(gfs "$rt" "$(field train_gflop "$rp")")" "$(pct "$(field train_share "$rp")")" \
        "$(gfs "$ri" "$(field infer_gflop "$rp")")" "$(pct "$(field infer_share "$rp")")" "${pl:--}"
done
echo "(ratio = runpipe / PyTorch; MB = peak RSS of the process, PyTorch's includes its ~300 MB runtime;"
echo " GF/s = img/s x analytic GFLOP/img of the conv and linear layers (forward, weight gradients of"
echo " trainable weights, input gradients where the backward computes them); %peak = share of the FMA peak)"

# ---- 3. further sections ---------------------------------------------------------
for b in $bins; do
    case "$(basename "$b")" in bench_conv | bench_models) continue ;; esac
    echo
    echo "== $(basename "$b")"
    "$b"
done
for s in tests/bench/bench_*.sh; do
    [ -e "$s" ] || continue
    echo
    echo "== $(basename "$s" .sh)"
    RUNPIPE_BUILD=$BUILD bash "$s"
done
echo
echo "bench finished in $(($(date +%s) - start)) s"
