#!/usr/bin/env bash
# `make bench` section: openimages.crop vs the same crops in Python/Pillow.
#
# Generates (once, cached in $BUILD/bench/openimages-data) N Open-Images-like
# photos of 1024x768 with 1-6 boxes each in the real CSV formats
# (tests/bench/openimages_gen.py), then times, on the same data:
#   runpipe   `runpipe run` of one openimages.crop stage, size 224, min_size 32,
#             with 1 and with $THREADS threads (wall time of the whole process:
#             CSV, decode, crop, resize, JPEG encode, manifest, and the
#             data.folder datasets handed on); median of 3
#   Pillow    tests/bench/openimages_pil.py doing the same crops, in one process
#             and in a multiprocessing pool of $THREADS processes
# and checks that the 1-thread and $THREADS-thread crop folders are identical.
# Environment: RUNPIPE_BUILD, RP_BENCH_THREADS (2), RP_BENCH_OI_IMAGES (300).
set -u
cd "$(dirname "$0")/../.."
BUILD=${RUNPIPE_BUILD:-build}
THREADS=${RP_BENCH_THREADS:-2}
N=${RP_BENCH_OI_IMAGES:-300}
PY=/usr/bin/python3
if ! "$PY" -c 'import PIL' 2>/dev/null; then
    echo "note: $PY has no PIL (Debian python3-pil): openimages bench skipped"
    exit 0
fi
data=$BUILD/bench/openimages-data
if [ "$(cat "$data/.n" 2>/dev/null)" != "$N" ]; then
    rm -rf "$data"
    echo "generating $N photos of 1024x768 in $data ..."
    "$PY" tests/bench/openimages_gen.py "$data" "$N" || { echo "generation failed"; exit 1; }
    echo "$N" > "$data/.n"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
abs=$(cd "$data" && pwd)
cat > "$work/p.yaml" <<YAML
runpipe: 1
name: bench-openimages
seed: 1
stages:
  - id: crops
    use: openimages.crop
    with:
      images: $abs/images
      boxes: $abs/oidv6-train-annotations-bbox.csv
      classes: $abs/class-descriptions-boxable.csv
      groups: {person: [Person, Man, Woman], animal: [Dog, Cat, Bird], object: [Car, Chair, Bottle]}
      size: 224
      min_size: 32
      out: OUT
YAML
# Each timed run leaves "wall cpu" (cpu = user + sys of the process and its
# children) in $work/t: on a shared machine the CPU seconds are the steadier
# comparison, the wall time is what a user waits.
timed() {
    /usr/bin/time -f '%e %U %S' -o "$work/t.raw" "$@" || return 1
    awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$work/t.raw" > "$work/t"
}
# run_rp THREADS TAG: one fresh run
run_rp() {
    # a fresh run folder each time: runpipe refuses to run into a used one
    rm -rf "$work/$2" "$work/run_$2"
    sed "s|OUT|$work/$2|" "$work/p.yaml" > "$work/$2.yaml"
    timed "$BUILD/bin/runpipe" run "$work/$2.yaml" --out "$work/run_$2" --threads "$1" > "$work/$2.log" 2>&1 ||
        { echo "runpipe failed:" >&2; tail -5 "$work/$2.log" >&2; return 1; }
    cat "$work/t"
}
run_py() {
    rm -rf "$work/py"
    timed "$PY" tests/bench/openimages_pil.py "$data" "$work/py" 224 32 "$1" > "$work/py.log" 2>&1 ||
        { echo "Pillow script failed:" >&2; tail -5 "$work/py.log" >&2; return 1; }
    cat "$work/t"
}
# median of three "wall cpu" lines, by wall time
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
rows=$(wc -l < "$data/oidv6-train-annotations-bbox.csv")
echo "-- $N photos 1024x768, $((rows - 1)) box rows; load $(cut -d' ' -f1-3 /proc/loadavg)"
# (a failed run inside $(...) ends only that subshell: stop here on any)
r1a=$(run_rp 1 t1) && pa=$(run_py 1) && r1b=$(run_rp 1 t1) && r1c=$(run_rp 1 t1) &&
    rta=$(run_rp "$THREADS" tn) && pn=$(run_py "$THREADS") && rtb=$(run_rp "$THREADS" tn) &&
    rtc=$(run_rp "$THREADS" tn) || { echo "openimages bench: a run failed (above)"; exit 1; }
r1=$(median3 "$r1a" "$r1b" "$r1c")
rt=$(median3 "$rta" "$rtb" "$rtc")
made=$(find "$work/tn" -name '*.jpg' | wc -l)
pymade=$(find "$work/py" -name '*.jpg' | wc -l)
w() { echo "$1" | cut -d' ' -f1; }
c() { echo "$1" | cut -d' ' -f2; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
printf '%-30s %8s %8s %8s | %9s %9s\n' "" "wall s" "CPU s" "crops/s" "wall x" "CPU x"
line() { # label "wall cpu" crops ref
    printf '%-30s %8.2f %8.2f %8.0f | %9s %9s\n' "$1" "$(w "$2")" "$(c "$2")" \
        "$(echo "$3 / $(w "$2")" | bc -l)" "$(ratio "$(w "$4")" "$(w "$2")")" "$(ratio "$(c "$4")" "$(c "$2")")"
}
line "Pillow, 1 process" "$pa" "$pymade" "$pa"
line "Pillow, $THREADS processes" "$pn" "$pymade" "$pa"
line "runpipe, 1 thread" "$r1" "$made" "$pa"
line "runpipe, $THREADS threads" "$rt" "$made" "$pa"
echo "ratios are against Pillow in 1 process; runpipe $THREADS threads vs Pillow $THREADS processes: $(ratio "$(w "$pn")" "$(w "$rt")")x wall"
echo "($made crops by runpipe, $pymade by Pillow; runpipe's time includes opening both folders as data.folder datasets)"
grep -h "crops from" "$work/tn.log" | sed 's/^/  /'
if diff -r -x manifest.params "$work/t1" "$work/tn" > /dev/null; then
    echo "crop folders of 1 and $THREADS threads: identical"
else
    echo "crop folders of 1 and $THREADS threads: DIFFER"
    exit 1
fi
