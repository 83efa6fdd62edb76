#!/bin/sh
# Writes the linker version script of librunpipe.so (the SDK boundary).
#   RUNPIPE_1        the public SDK: every symbol the engine defines whose
#                    name appears in engine/include/runpipe/*.h
#   RUNPIPE_PRIVATE  what the runpipe program itself calls beyond the SDK
#                    (the front end, plan and run drivers)
# Everything else is local: a plugin that reaches for an engine internal
# fails to link (plugins are linked with -z defs). With --all, every symbol is
# exported (at RUNPIPE_PRIVATE): the unit tests' build of the library.
# usage: exports.sh [--all] ENGINE_OBJECTS... -- PROGRAM_OBJECTS...
set -eu
all=0
[ "${1:-}" = --all ] && { all=1; shift; }
eng=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do eng="$eng $1"; shift; done
[ $# -gt 0 ] && shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
nm --defined-only -g $eng | awk 'NF == 3 && $2 ~ /^[TDBRVWu]$/ {print $3}' | sort -u >"$tmp/defined"
grep -ohE '\brp_[A-Za-z0-9_]+' "$(dirname "$0")"/../include/runpipe/*.h | sort -u >"$tmp/named"
comm -12 "$tmp/defined" "$tmp/named" >"$tmp/public"
if [ $# -gt 0 ]; then
    nm -u "$@" | awk '{print $NF}' | sort -u | comm -12 - "$tmp/defined" | comm -23 - "$tmp/public" >"$tmp/private"
else
    : >"$tmp/private"
fi
echo "RUNPIPE_1 {"
echo "  global:"
sed 's/^/    /; s/$/;/' "$tmp/public"
echo "};"
echo "RUNPIPE_PRIVATE {"
echo "  global:"
sed 's/^/    /; s/$/;/' "$tmp/private"
if [ "$all" = 1 ]; then echo "    *;"; else echo "  local:"; echo "    *;"; fi
echo "} RUNPIPE_1;"
