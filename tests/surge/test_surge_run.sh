#!/usr/bin/env bash
# A small surge end to end: loadtest/surge/run with ~2,000 users (10% bots) for 200 seats on a short curve,
# on its own PostgreSQL, Redis, peers and citasd built in BUILD_DIR. Passes when the checker finds no
# violation, every seat is sold and every 201 is a row. Speed is not asserted (the report has it).
# Usage: test_surge_run.sh BUILD_DIR
set -uo pipefail
build=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
    if "${@:2}"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi
}
if [ ! -x "$build/loadtest/surge/surge-gen" ] || [ ! -x "$build/loadtest/surge/surge-check" ]; then
    echo "surge_run: surge-gen or surge-check is not built in $build: skipped"
    exit 77
fi
out=${CITAS_TEST_TMPDIR:-/tmp}/surge-run-$$
rc=0
"$repo/loadtest/surge/run" --build "$build" --users 2000 --seats 200 --bot-share 0.1 \
    --before-s 10 --after-s 10 --tail-s 10 --wrk-s 3 --out "$out" -- --bot-max-tries 8 >"$out.log" 2>&1 || rc=$?
tail -n 40 "$out.log"
check "the run and its checker succeed (exit $rc)" [ "$rc" -eq 0 ]
json() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$out/report.json" "$1" 2>/dev/null; }
check "report.json says no violation" [ "$(json violations)" = 0 ]
check "every seat is booked" [ "$(json booked)" = 200 ]
check "every 201 is a row (answers_201 + rows after a timeout = booked)" \
    [ $(($(json answers_201) + $(json rows_after_timeout))) -eq "$(json booked)" ]
check "no 5xx without fault modes" [ "$(json errors_5xx)" = 0 ]
check "the plot was drawn" [ -s "$out/surge.svg" ]
# availability comes gzipped to the generator (it asks as browsers do) and every such answer inflated
gz=$(grep -o 'gzipped=[0-9]*' "$out/surge-gen.txt" | tail -n 1 | cut -d= -f2)
check "gzipped availability answers were read (${gz:-none})" [ "${gz:-0}" -gt 0 ]
check "no gzip body failed to inflate" [ "$(awk -F'\t' '$9 == "bad_gzip"' "$out/answers.tsv" | wc -l)" -eq 0 ]
echo "surge_run: $passed passed, $failed failed"
[ $failed -eq 0 ] && rm -rf "$out" "$out.log"
[ $failed -eq 0 ]
