#!/bin/bash
# citasctl migrate on a fresh database of CITAS_TEST_PG_DSN's server: applies sql/ once, a second run is a
# no-op, a broken migration rolls back entirely and is not recorded, concurrent runs do not race, and
# errors exit non-zero. Usage: test_migrate.sh CITASCTL SQL_DIR (CITAS_TEST_PG_DSN in key=value form).
set -u
CITASCTL=$(realpath "$1")
SQLDIR=$(realpath "$2")
# shellcheck source=../support/scratch_db.sh
. "$(dirname "$(realpath "$0")")/../support/scratch_db.sh"
scratch_db_init ctl-migrate

# 1. a fresh database gets every migration of sql/, recorded once
"$CITASCTL" migrate --dsn "$NEWDSN" --dir "$SQLDIR" >"$TMP/out1" 2>"$TMP/err1"
check "first migrate exits 0" eq "$?" 0
check "first migrate reports 001" grep -q "applied 001_foundation.sql" "$TMP/out1"
check "versions recorded" eq "$(q "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations")" \
    "$(ls "$SQLDIR" | grep -E '^[0-9]+_.*\.sql$' | sed -E 's/^0*([0-9]+)_.*/\1/' | sort -n | paste -sd, -)"
check "001 name recorded" eq "$(q "SELECT name FROM schema_migrations WHERE version = 1")" "001_foundation.sql"
check "settings table exists" eq "$(q "SELECT to_regclass('public.settings') IS NOT NULL")" t
check "instance id row" eq "$(q "SELECT count(*) FROM settings WHERE key = 'instance.id' AND length(value) = 32")" 1
check "pgcrypto installed" eq "$(q "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'")" 1
before=$(q "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")

# 2. a second run is a no-op; CITAS_PG_DSN overrides --dsn
CITAS_PG_DSN="$NEWDSN" "$CITASCTL" migrate --dsn "host=127.0.0.1 port=1 dbname=nowhere" --dir "$SQLDIR" >"$TMP/out2" 2>&1
check "second migrate exits 0" eq "$?" 0
check "second migrate applies nothing" grep -q "nothing to apply" "$TMP/out2"
check "rows unchanged" eq "$(q "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")" "$before"
check "one instance id" eq "$(q "SELECT count(*) FROM settings")" 1

# 3. a broken migration rolls back entirely, is not recorded, and stops the run
mkdir -p "$TMP/sql"
cp "$SQLDIR"/*.sql "$TMP/sql/"
cat >"$TMP/sql/902_broken.sql" <<'SQL'
CREATE TABLE broken_a (x int);
INSERT INTO broken_a VALUES (1);
INSERT INTO settings (key, value) VALUES ('broken.ran', 'yes');
SELECT * FROM no_such_table;
SQL
printf 'CREATE TABLE after_broken (x int);\n' >"$TMP/sql/903_after.sql"
printf -- '-- not a migration: wrong name\nSELECT 1/0;\n' >"$TMP/sql/notes.sql"
"$CITASCTL" migrate --dsn "$NEWDSN" --dir "$TMP/sql" >"$TMP/out3" 2>"$TMP/err3"
rc=$?
check "broken migrate exits non-zero" test "$rc" -ne 0
check "error names the file" grep -q "902_broken.sql" "$TMP/err3"
check "error carries the server message" grep -q "no_such_table" "$TMP/err3"
check "broken table rolled back" eq "$(q "SELECT to_regclass('public.broken_a') IS NULL")" t
check "broken insert rolled back" eq "$(q "SELECT count(*) FROM settings WHERE key = 'broken.ran'")" 0
check "broken not recorded" eq "$(q "SELECT count(*) FROM schema_migrations WHERE version >= 902")" 0
check "later migration not applied" eq "$(q "SELECT to_regclass('public.after_broken') IS NULL")" t

# 4. once fixed, the rest applies in numeric order; CITAS_SQL_DIR and the default ./sql are honoured
printf 'CREATE TABLE broken_a (x int);\n' >"$TMP/sql/902_broken.sql"
CITAS_SQL_DIR="$TMP/sql" "$CITASCTL" migrate --dsn "$NEWDSN" >"$TMP/out4" 2>&1
check "fixed migrate exits 0" eq "$?" 0
check "applied in order" eq "$(grep '^applied' "$TMP/out4" | tr '\n' ' ')" "applied 902_broken.sql applied 903_after.sql "
check "both recorded" eq "$(q "SELECT count(*) FROM schema_migrations WHERE version IN (902, 903)")" 2
(cd "$TMP" && "$CITASCTL" migrate --dsn "$NEWDSN" >"$TMP/out5" 2>&1)
check "default dir ./sql is a no-op now" grep -q "nothing to apply" "$TMP/out5"

# 5. two concurrent runs: the advisory lock serialises them, the migration runs once
printf 'SELECT pg_sleep(1);\nCREATE TABLE slow_t (x int);\n' >"$TMP/sql/904_slow.sql"
"$CITASCTL" migrate --dsn "$NEWDSN" --dir "$TMP/sql" >"$TMP/out6a" 2>&1 &
pa=$!
"$CITASCTL" migrate --dsn "$NEWDSN" --dir "$TMP/sql" >"$TMP/out6b" 2>&1 &
pb=$!
wait $pa
ra=$?
wait $pb
rb=$?
check "concurrent runs both exit 0" eq "$ra $rb" "0 0"
check "904 applied by exactly one run" eq "$(cat "$TMP/out6a" "$TMP/out6b" | grep -c 'applied 904_slow.sql')" 1
check "904 recorded once" eq "$(q "SELECT count(*) FROM schema_migrations WHERE version = 904")" 1

# 6. errors go to stderr with a non-zero exit
"$CITASCTL" migrate --dsn "host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2" --dir "$SQLDIR" >"$TMP/out7" 2>"$TMP/err7"
check "unreachable server exits non-zero" test "$?" -ne 0
check "unreachable server explained" grep -q "cannot connect" "$TMP/err7"
"$CITASCTL" migrate --dsn "$NEWDSN" --dir "$TMP/no-such-dir" >/dev/null 2>"$TMP/err8"
check "missing dir exits non-zero" test "$?" -ne 0
check "missing dir explained" grep -q "no-such-dir" "$TMP/err8"
"$CITASCTL" frobnicate >/dev/null 2>&1
check "unknown command exits non-zero" test "$?" -ne 0
cp "$TMP/sql/903_after.sql" "$TMP/sql/0903_again.sql"
"$CITASCTL" migrate --dsn "$NEWDSN" --dir "$TMP/sql" >/dev/null 2>"$TMP/err9"
check "duplicate version refused" test "$?" -ne 0

scratch_db_finish
