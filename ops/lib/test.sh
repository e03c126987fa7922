# shellcheck shell=bash
# `ops/citas test`: builds build/ and build-asan/, starts PostgreSQL and Redis in a temporary directory,
# runs `meson test` in each build dir and prints "tests: N passed, N failed".

TEST_TMP=
TEST_PASSED=0
TEST_FAILED=0
TEST_SKIPPED=0

test_cleanup() {
    [ -n "$TEST_TMP" ] || return 0
    set +e
    [ -n "${REDIS_PID:-}" ] && redis_stop "$REDIS_PID"
    [ -n "${PG_DATA:-}" ] && pg_stop "$PG_DATA" "${PG_BIN:-}"
    case "${PG_SOCK:-}" in /tmp/citas-pgsock.*) rm -rf "$PG_SOCK" ;; esac
    rm -rf "$TEST_TMP"
    TEST_TMP=
}

# On an early exit (set-up failed, interrupted): stop everything, still end with the summary line.
test_on_exit() {
    local rc=$?
    test_cleanup
    echo "tests: $TEST_PASSED passed, $((TEST_FAILED + 1)) failed"
    [ $rc -ne 0 ] || rc=1
    exit $rc
}

# Counts the results in a meson testlog.json: prints "passed failed skipped interrupted".
count_results() {
    python3 - "$1" <<'PY'
import json, sys
passed = failed = skipped = interrupted = 0
try:
    lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
except OSError:
    lines = []
for line in lines:
    if not line.strip():
        continue
    result = json.loads(line).get("result")
    if result in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif result == "SKIP":
        skipped += 1
    else:
        failed += 1
        interrupted += result == "INTERRUPT"
print(passed, failed, skipped, interrupted)
PY
}

# run_suite DIR LABEL [meson test args...]: one `meson test` run; adds to the totals.
run_suite() {
    local dir=$1 label=$2 rc=0 p f s i t0
    shift 2
    t0=$(now_s)
    mkdir -p "$TEST_TMP/scratch-$label"
    export CITAS_TEST_TMPDIR=$TEST_TMP/scratch-$label
    export CITAS_BUILD_DIR=$REPO/$dir
    rm -f "$dir/meson-logs/testlog.json"
    log "meson test -C $dir ($label)"
    meson test -C "$dir" --print-errorlogs "$@" 8>&- || rc=$?
    read -r p f s i < <(count_results "$dir/meson-logs/testlog.json")
    # meson failed without a failed test (setup error, no test matched): count the run itself
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    log "$label: $p passed, $f failed, $s skipped ($(elapsed "$t0"))"
    TEST_PASSED=$((TEST_PASSED + p))
    TEST_FAILED=$((TEST_FAILED + f))
    TEST_SKIPPED=$((TEST_SKIPPED + s))
    # Ctrl-C: meson stops the running test and exits normally, so bash does not run its INT trap
    if [ "$i" -gt 0 ]; then
        TEST_FAILED=$((TEST_FAILED - 1)) # test_on_exit counts the interrupted run once
        log "interrupted"
        exit 130
    fi
}

# Fresh database and an empty Redis, so the second run does not see the first one's data.
reset_state() {
    pg_createdb citas fresh
    migrate "${1:-build}"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" flushall >/dev/null
}

cmd_test() {
    local quick=0 t0 build_ok=1 asan_ok=1 args=() v bdir=build
    while [ $# -gt 0 ]; do
        case "$1" in
        --quick) quick=1 ;;
        --build-dir)
            [ $# -ge 2 ] || die "--build-dir needs a directory name"
            bdir=$2
            shift
            ;;
        -h | --help)
            echo "usage: ops/citas test [--quick] [--build-dir NAME] [meson test arguments, e.g. a test name or --suite unit]"
            return 0
            ;;
        *) args+=("$1") ;;
        esac
        shift
    done
    t0=$(now_s)

    # tests read only what this run sets: drop CITAS_* settings inherited from a sourced .run/env
    for v in $(compgen -e | grep '^CITAS_' | grep -v '^CITAS_TEST_' || true); do unset "$v"; done

    deps_install
    # one test run per tree at a time (they share build/ and build-asan/); fd 8 is closed for the services
    mkdir -p "$REPO/.run"
    exec 8>"$REPO/.run/.test-$bdir.lock"
    if ! flock -n 8; then
        log "another ops/citas test runs in this tree: waiting for it"
        flock -w 3600 8 || die "gave up waiting for $REPO/.run/.test.lock"
    fi
    build_dir "$bdir" || build_ok=0
    if [ $quick -eq 0 ]; then
        build_dir "$bdir-asan" -Db_sanitize=address,undefined -Db_lundef=false || asan_ok=0
    fi
    log "built in $(elapsed "$t0")"

    TEST_TMP=$(mktemp -d /tmp/citas-test.XXXXXX)
    chmod 755 "$TEST_TMP" # PostgreSQL runs as another user and must reach its directory
    trap test_on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    pg_init "$TEST_TMP"
    pg_start
    pg_createdb citas
    redis_start "$TEST_TMP/redis"
    cert_make "$TEST_TMP/tls"
    [ $build_ok -eq 1 ] && migrate "$bdir"

    export CITAS_TEST_REDIS_PORT=$REDIS_PORT
    export CITAS_TEST_PG_DSN=$PG_DSN
    export CITAS_TEST_PG_RESTART=$PG_RESTART
    export CITAS_TEST_TLS_CERT=$TEST_TMP/tls/cert.pem
    export CITAS_TEST_TLS_KEY=$TEST_TMP/tls/key.pem

    if [ $build_ok -eq 1 ]; then
        run_suite "$bdir" normal "${args[@]}"
    else
        log "$bdir/ failed to build: its tests are not run"
        TEST_FAILED=$((TEST_FAILED + 1))
    fi
    if [ $quick -eq 0 ]; then
        if [ $asan_ok -eq 1 ]; then
            [ $build_ok -eq 1 ] && reset_state "$bdir"
            # a sanitizer report must fail the run: abort on the first one
            export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
            export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
            # third-party caches that are never freed (see the file)
            [ -f "$REPO/tests/lsan.supp" ] && export LSAN_OPTIONS=suppressions=$REPO/tests/lsan.supp:print_suppressions=0
            run_suite "$bdir-asan" asan --timeout-multiplier 3 "${args[@]}"
        else
            log "$bdir-asan/ failed to build: its tests are not run"
            TEST_FAILED=$((TEST_FAILED + 1))
        fi
    fi

    test_cleanup
    trap - EXIT INT TERM
    [ $TEST_SKIPPED -gt 0 ] && log "$TEST_SKIPPED test(s) skipped"
    log "test run took $(elapsed "$t0")"
    echo "tests: $TEST_PASSED passed, $TEST_FAILED failed"
    [ $TEST_FAILED -eq 0 ] && [ $TEST_PASSED -gt 0 ]
}
