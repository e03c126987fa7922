#!/usr/bin/env bash
# tests/support/at_time.sh [--build-dir DIR] 'YYYY-MM-DD HH:MM:SS' [meson test args...]
#
# Runs tests (an already built DIR, default build/) with the clock of PostgreSQL, citasd, citasctl and the
# tests shifted so that "now" is the given UTC time when the servers start, to try the suite at a time of day
# it cannot be run at by hand: just before midnight UTC, inside a daylight-saving change... It is the set-up of
# `ops/citas test` (ops/lib), with libfaketime (Debian package faketime) preloaded through a relative offset
# that every process shares, so the clock goes on ticking and crosses the chosen time.
#
# Limits, measured on Debian 12's libfaketime 0.9.10:
#  - redis-server and redis-cli hang under libfaketime (recursive clock_gettime at start-up), so they run
#    without it: Redis (the harness's, and the one each bk_env test starts) keeps the real clock, and the booking
#    and availability scripts compare slot starts and release times with Redis TIME. Choose a time a little
#    BEHIND the real one (e.g. yesterday's 23:59:50 just after midnight): what is past for the faked clock is
#    then past for Redis too, and slots days ahead stay ahead. A time ahead of the real one makes windows
#    released "now" look unreleased. Checks of a release a few seconds after "now" cannot hold either way:
#    under this script calendar's 'before release' and most of booking_penalty fail (Redis sees the release
#    as long past); that says nothing about the time of day.
#  - Chromium (browser tests) keeps the real clock (CITAS_TEST_CHROMIUM points to a wrapper without the preload).
#  - meson and ninja are not faked (meson refuses file times in its future): build before, tests run with
#    --no-rebuild.
# Example: the audit and help-desk tests across midnight UTC, started 20 s before it:
#   tests/support/at_time.sh --build-dir build "$(date -u -d 'today 23:59:40' '+%F %T')" audit_api helpdesk_api
# (that is ahead of the real clock before midnight: run it after midnight with 'yesterday 23:59:40').
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bdir=build
if [ "${1:-}" = --build-dir ]; then
    bdir=${2:?--build-dir needs a directory}
    shift 2
fi
target=${1:?usage: at_time.sh [--build-dir DIR] 'YYYY-MM-DD HH:MM:SS' [meson test args]}
shift
lib=
for f in /usr/lib/*/faketime/libfaketime.so.1; do [ -e "$f" ] && lib=$f; done
[ -n "$lib" ] || { echo "at_time.sh: libfaketime not found: apt-get install faketime" >&2; exit 2; }
[ -x "$REPO/$bdir/src/citasd/citasd" ] || { echo "at_time.sh: $bdir/ is not built" >&2; exit 2; }
cd "$REPO"
# shellcheck source=ops/lib/common.sh
. ops/lib/common.sh
# shellcheck source=ops/lib/deps.sh
. ops/lib/deps.sh
# shellcheck source=ops/lib/services.sh
. ops/lib/services.sh
for v in $(compgen -e | grep '^CITAS_' | grep -v '^CITAS_TEST_' || true); do unset "$v"; done

TEST_TMP=$(mktemp -d /tmp/citas-at-time.XXXXXX)
chmod 755 "$TEST_TMP" # PostgreSQL runs as another user and must reach its directory
cleanup() {
    set +e
    [ -n "${REDIS_PID:-}" ] && redis_stop "$REDIS_PID"
    [ -n "${PG_DATA:-}" ] && pg_stop "$PG_DATA" "${PG_BIN:-}"
    rm -rf "$TEST_TMP"
    # libfaketime's shared memory and semaphore, named after the process that made them, outlive processes
    # that were killed: remove those whose process is gone
    local f pid
    for f in /dev/shm/faketime_shm_*; do
        pid=${f##*_}
        [ -e "$f" ] && ! kill -0 "$pid" 2>/dev/null && rm -f "$f" "/dev/shm/sem.faketime_sem_$pid"
    done
}
trap cleanup EXIT

# programs that keep the real clock: wrappers without the preload, first on the PATH
mkdir -p "$TEST_TMP/bin"
for p in redis-server redis-cli chromium; do
    printf '#!/bin/sh\nunset LD_PRELOAD\nexec %s "$@"\n' "$(command -v "$p" || echo "/usr/bin/$p")" >"$TEST_TMP/bin/$p"
    chmod +x "$TEST_TMP/bin/$p"
done
export PATH=$TEST_TMP/bin:$PATH CITAS_TEST_CHROMIUM=$TEST_TMP/bin/chromium

off=$(($(date -u -d "$target" +%s) - $(date -u +%s)))
printf '%+d\n' "$off" >"$TEST_TMP/faketime.rc"
export FAKETIME_TIMESTAMP_FILE=$TEST_TMP/faketime.rc FAKETIME_CACHE_DURATION=1 NO_FAKE_STAT=1
export FAKETIME_SKIP_CMDS=meson,ninja
redis_start "$TEST_TMP/redis"
export LD_PRELOAD=$lib
pg_init "$TEST_TMP"
pg_start
pg_createdb citas
cert_make "$TEST_TMP/tls"
CITAS_PG_DSN=$PG_DSN CITAS_SQL_DIR=$REPO/sql "$REPO/$bdir/src/ctl/citasctl" migrate >&2

mkdir -p "$TEST_TMP/scratch"
export CITAS_TEST_TMPDIR=$TEST_TMP/scratch CITAS_BUILD_DIR=$REPO/$bdir
export CITAS_TEST_REDIS_PORT=$REDIS_PORT CITAS_TEST_PG_DSN=$PG_DSN CITAS_TEST_PG_RESTART=$PG_RESTART
export CITAS_TEST_TLS_CERT=$TEST_TMP/tls/cert.pem CITAS_TEST_TLS_KEY=$TEST_TMP/tls/key.pem
log "faked now: $(date -u '+%F %T') UTC (PostgreSQL: $(psql "$PG_DSN" -qAtX -c "SELECT now() AT TIME ZONE 'UTC'"))"
rc=0
meson test -C "$bdir" --no-rebuild --print-errorlogs "$@" 8>&- || rc=$?
log "faked now at the end: $(date -u '+%F %T') UTC"
exit $rc
