#!/usr/bin/env bash
# Run every test binary given on the command line, print each one's cmocka
# summary, and end with one line: "N passed, N failed".
# A binary that crashes or prints no cmocka summary counts as one failure.
set -u
passed=0
failed=0
failed_bins=()
logdir=${RUNPIPE_BUILD:-build}/test-logs
# Idle OpenMP threads sleep instead of spinning: tests share two cores.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# RP_VALGRIND=1 (make valgrind): every binary under memcheck; any error fails it.
wrap=()
if [ "${RP_VALGRIND:-0}" = 1 ]; then
    wrap=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
          --suppressions="$(dirname "$0")/valgrind.supp"
          --show-leak-kinds=definite)
fi
mkdir -p "$logdir"
for bin in "$@"; do
    name=$(basename "$bin")
    log="$logdir/$name.log"
    start=$(date +%s)
    CMOCKA_MESSAGE_OUTPUT=stdout "${wrap[@]}" "$bin" >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # ran nothing: a failure
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        failed_bins+=("$name")
        printf '%-34s %4d passed %3d FAILED  (%ss)  log: %s\n' "$name" "$p" "$f" "$secs" "$log"
        grep -E '^\[  (FAILED|ERROR) +\]|error|Error|FAIL' "$log" | head -n 20 | sed 's/^/    /'
    else
        printf '%-34s %4d passed            (%ss)\n' "$name" "$p" "$secs"
    fi
done
echo
[ ${#failed_bins[@]} -gt 0 ] && echo "failing: ${failed_bins[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
