# shellcheck shell=bash
# Shared set-up of the shell tests that need a database of their own: sourced after CITASCTL/SQLDIR are set.
# scratch_db_init LABEL: checks CITAS_TEST_PG_DSN (key=value form), makes TMP (removed at exit) and the empty
# database DB (dropped at exit) reached by NEWDSN; defines the counters and check/eq/q/scratch_db_finish.

scratch_db_init() {
    local label=$1
    DSN=${CITAS_TEST_PG_DSN:?CITAS_TEST_PG_DSN is not set}
    case "$DSN" in
    *://*) echo "$label: CITAS_TEST_PG_DSN must be key=value conninfo" >&2; exit 1 ;;
    esac
    unset CITAS_PG_DSN CITAS_SQL_DIR
    TMP=$(mktemp -d "${CITAS_TEST_TMPDIR:-/tmp}/citas-$label.XXXXXX")
    DB="citas_test_${label//-/_}_$$_$(date +%s)"
    NEWDSN="$DSN dbname=$DB"
    SCRATCH_LABEL=$label
    passed=0
    failed=0
    trap scratch_db_cleanup EXIT
    psql "$DSN" -qAtX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" || { echo "cannot create $DB" >&2; exit 1; }
}

scratch_db_cleanup() {
    psql "$DSN" -qAtX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$TMP"
}

check() { # check DESCRIPTION COMMAND...
    local desc=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "check failed: $desc" >&2
    fi
}

eq() {
    [ "$1" = "$2" ] || { echo "  got '$1', want '$2'" >&2; return 1; }
}

q() { psql "$NEWDSN" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

# The summary line; the exit status says whether everything passed (and something did).
scratch_db_finish() {
    echo "$SCRATCH_LABEL: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
