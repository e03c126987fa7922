#!/usr/bin/env bash
# The reference data of sql/004_reference.sql in the migrated database of CITAS_TEST_PG_DSN: the seeded
# network (offices, time zones, hours, procedures, documents, holidays), the constraints that keep bad
# rows out (codes, kinds, countries, unknown time zones, hours, foreign keys), and that the server's
# time zone data behaves as PostgreSQL documents around a DST change. It only reads; every write it tries
# is rolled back. Checks about the seed look at the offices named in the migration file, so offices that
# other tests add meanwhile do not matter. Usage: test_reference.sh PATH/TO/004_reference.sql
set -u
sqlfile=$1
DSN=${CITAS_TEST_PG_DSN:?run the tests with ops/citas test}
pass=0
fail=0

check() { # check DESCRIPTION COMMAND...
    local desc=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $desc" >&2
    fi
}
eq() { [ "$1" = "$2" ] || { echo "  got '$1', want '$2'" >&2; return 1; }; }
ge() { [ "$1" -ge "$2" ] 2>/dev/null || { echo "  got '$1', want >= $2" >&2; return 1; }; }
q() { psql "$DSN" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
# rejects SQLSTATE SQL: runs SQL in a transaction that is rolled back; succeeds if it fails with SQLSTATE
rejects() {
    local want=$1 out
    out=$(printf '\\set VERBOSITY verbose\nBEGIN;\n%s;\nROLLBACK;\n' "$2" |
        psql "$DSN" -qAtX -v ON_ERROR_STOP=1 2>&1) && { echo "  accepted: $2" >&2; return 1; }
    grep -q "ERROR:  $want:" <<<"$out" || { echo "  wrong error for: $2: $out" >&2; return 1; }
}
# accepts SQL: runs SQL in a transaction that is rolled back; succeeds if no statement fails
accepts() {
    printf 'BEGIN;\n%s;\nROLLBACK;\n' "$1" | psql "$DSN" -qAtX -v ON_ERROR_STOP=1 >/dev/null ||
        { echo "  refused: $1" >&2; return 1; }
}

# the seeded codes, from the migration itself: "('LAX', 'consulate_general', ..."
codes=$(grep -oE "^\('[A-Z]{3}[A-Z0-9]{0,5}', '(embassy|consulate_general|consulate|consular_section)'" "$sqlfile" |
    cut -d"'" -f2 | sort)
nseed=$(wc -l <<<"$codes")
seed="ARRAY[$(sed "s/.*/'&'/" <<<"$codes" | paste -sd,)]::text[]"
check "the migration names at least 100 offices" ge "$nseed" 100
check "seeded codes are unique" eq "$(sort -u <<<"$codes" | wc -l)" "$nseed"

# ---- the seed ----------------------------------------------------------------------------------------
check "every seeded office is in the database" eq "$(q "SELECT count(*) FROM offices WHERE code = ANY($seed)")" "$nseed"
check "at least 100 active offices" ge "$(q "SELECT count(*) FROM offices WHERE active AND code = ANY($seed)")" 100
check "every seeded time zone is one the server knows" eq \
    "$(q "SELECT count(*) FROM offices o WHERE code = ANY($seed)
          AND NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = o.time_zone)")" 0
check "offices span at least 15 time zones" ge \
    "$(q "SELECT count(DISTINCT time_zone) FROM offices WHERE code = ANY($seed)")" 15
check "offices span at least 60 countries" ge "$(q "SELECT count(DISTINCT country) FROM offices WHERE code = ANY($seed)")" 60
check "at least 45 offices in the United States" ge \
    "$(q "SELECT count(*) FROM offices WHERE country = 'US' AND code = ANY($seed)")" 45
check "every seeded office has weekday hours (Mon-Fri)" eq \
    "$(q "SELECT count(*) FROM offices o WHERE code = ANY($seed) AND
          (SELECT count(DISTINCT weekday) FROM office_hours h WHERE h.office_code = o.code AND weekday <= 5) <> 5")" 0
check "every seeded office offers at least 3 procedures" eq \
    "$(q "SELECT count(*) FROM offices o WHERE code = ANY($seed) AND
          (SELECT count(*) FROM office_procedures p WHERE p.office_code = o.code) < 3")" 0
check "every seeded office offers the passport procedures" eq \
    "$(q "SELECT count(*) FROM offices o WHERE code = ANY($seed) AND
          (SELECT count(*) FROM office_procedures p WHERE p.office_code = o.code
           AND p.procedure_code IN ('passport_first', 'passport_renewal')) <> 2")" 0
check "every seeded office closes on 16 September 2026" eq \
    "$(q "SELECT count(*) FROM offices o WHERE code = ANY($seed) AND NOT EXISTS
          (SELECT 1 FROM office_holidays h WHERE h.office_code = o.code AND h.day = '2026-09-16')")" 0
check "holidays cover 2026 and 2027" eq \
    "$(q "SELECT string_agg(DISTINCT extract(year FROM day)::text, ',') FROM office_holidays
          WHERE office_code = ANY($seed)")" "2026,2027"
check "seeded names in both languages follow the kind" eq \
    "$(q "SELECT count(*) FROM offices WHERE code = ANY($seed) AND NOT (
          (kind = 'embassy' AND name_es LIKE 'Embajada de México en %' AND name_en LIKE 'Embassy of Mexico in %')
          OR (kind = 'consulate_general' AND name_es LIKE 'Consulado General de México en %'
              AND name_en LIKE 'Consulate General of Mexico in %')
          OR (kind = 'consulate' AND name_es LIKE 'Consulado de México en %'
              AND name_en LIKE 'Consulate of Mexico in %')
          OR kind = 'consular_section')")" 0
check "LAX is the Los Angeles consulate general" eq \
    "$(q "SELECT concat_ws('|', kind, city, country, time_zone, name_es) FROM offices WHERE code = 'LAX'")" \
    "consulate_general|Los Angeles|US|America/Los_Angeles|Consulado General de México en Los Ángeles"
check "MAD is the Madrid embassy" eq \
    "$(q "SELECT concat_ws('|', kind, city, country, time_zone, country_name_en) FROM offices WHERE code = 'MAD'")" \
    "embassy|Madrid|ES|Europe/Madrid|Spain"
check "Arizona offices are on America/Phoenix (no DST)" eq \
    "$(q "SELECT string_agg(DISTINCT time_zone, ',') FROM offices WHERE code IN ('PHX', 'TUS', 'NOG', 'DUG', 'YUM')")" \
    "America/Phoenix"
check "El Paso keeps Mountain time, Laredo Central" eq \
    "$(q "SELECT string_agg(time_zone, ',' ORDER BY code) FROM offices WHERE code IN ('ELP', 'LRD')")" \
    "America/Denver,America/Chicago"
check "big US consulates open on Saturday mornings" eq \
    "$(q "SELECT concat_ws('|', opens, closes) FROM office_hours WHERE office_code = 'LAX' AND weekday = 6")" \
    "09:00:00|13:00:00"
check "small consulates are closed on Saturday" eq \
    "$(q "SELECT count(*) FROM office_hours WHERE office_code = 'PRE' AND weekday IN (6, 7)")" 0

# ---- procedures --------------------------------------------------------------------------------------
check "the common procedures exist" eq \
    "$(q "SELECT count(*) FROM procedures WHERE code IN ('passport_first', 'passport_renewal', 'consular_id', 'visa',
          'birth_registration', 'marriage_registration', 'power_of_attorney', 'legalisation',
          'certificate_of_nationality', 'voter_id')")" 10
check "every procedure has documents in both languages, item for item" eq \
    "$(q "SELECT count(*) FROM procedures WHERE cardinality(documents_es) < 1
          OR cardinality(documents_es) <> cardinality(documents_en)
          OR EXISTS (SELECT 1 FROM unnest(documents_es || documents_en) d WHERE length(trim(d)) < 3)")" 0
check "every procedure has names and a duration" eq \
    "$(q "SELECT count(*) FROM procedures WHERE name_es = '' OR name_en = '' OR duration_min < 5")" 0
check "at least one walk-in procedure" ge "$(q "SELECT count(*) FROM procedures WHERE NOT needs_appointment")" 1
check "visas at embassies, not at small US consulates" eq \
    "$(q "SELECT string_agg(office_code, ',' ORDER BY office_code) FROM office_procedures
          WHERE procedure_code = 'visa' AND office_code IN ('MAD', 'PRE', 'LAX')")" "LAX,MAD"

# ---- constraints -------------------------------------------------------------------------------------
ok_row="INSERT INTO offices (code, kind, name_es, name_en, city, country, country_name_es, country_name_en,
    time_zone, address) VALUES"
row() { # row CODE KIND COUNTRY TZ
    echo "$ok_row ('$1', '$2', 'Oficina de prueba', 'Test office', 'Testville', '$3', 'Prueba', 'Test', '$4', 'Main St 1')"
}
check "a well-formed office is accepted (control)" accepts "$(row ZZTEST1 consulate US America/Chicago)"
check "unknown time zone is refused" rejects 23514 "$(row ZZTEST2 consulate US Mars/Olympus_Mons)"
check "time zone abbreviation is refused" rejects 23514 "$(row ZZTEST3 consulate US PST)"
check "POSIX time zone string is refused" rejects 23514 "$(row ZZTEST4 consulate US UTC+5)"
check "time zone in the wrong case is refused" rejects 23514 "$(row ZZTEST5 consulate US america/los_angeles)"
check "one bad zone in a multi-row insert refuses the statement" rejects 23514 \
    "$(row ZZTEST6 consulate US America/Chicago), ('ZZTEST7', 'consulate', 'Oficina', 'Office', 'Testville', 'US',
       'Prueba', 'Test', 'Europe/Atlantis', 'Main St 1')"
check "updating to an unknown time zone is refused" rejects 23514 \
    "UPDATE offices SET time_zone = 'America/Nowhere' WHERE code = 'LAX'"
check "an update that keeps the zone is accepted" accepts "UPDATE offices SET active = active WHERE code = 'LAX'"
check "lower-case code is refused" rejects 23514 "$(row zzt consulate US America/Chicago)"
check "two-letter code is refused" rejects 23514 "$(row ZZ consulate US America/Chicago)"
check "code with a space is refused" rejects 23514 "$(row 'ZZ T' consulate US America/Chicago)"
check "unknown kind is refused" rejects 23514 "$(row ZZTEST8 honorary_consulate US America/Chicago)"
check "bad country code is refused" rejects 23514 "$(row ZZTEST9 consulate USA America/Chicago)"
check "duplicate code is refused" rejects 23505 "$(row LAX consulate US America/Los_Angeles)"
check "hours that close before they open are refused" rejects 23514 \
    "INSERT INTO office_hours VALUES ('LAX', 7, '14:00', '08:00')"
check "weekday 8 is refused" rejects 23514 "INSERT INTO office_hours VALUES ('LAX', 8, '08:00', '14:00')"
check "weekday 0 is refused" rejects 23514 "INSERT INTO office_hours VALUES ('LAX', 0, '08:00', '14:00')"
check "hours of an unknown office are refused" rejects 23503 \
    "INSERT INTO office_hours VALUES ('ZZNONE', 7, '08:00', '14:00')"
check "an unknown procedure cannot be offered" rejects 23503 \
    "INSERT INTO office_procedures VALUES ('LAX', 'no_such_procedure')"
check "an office with hours cannot be deleted" rejects 23503 "DELETE FROM offices WHERE code = 'LAX'"
check "an offered procedure cannot be deleted" rejects 23503 "DELETE FROM procedures WHERE code = 'legalisation'"
check "documents of unequal length are refused" rejects 23514 \
    "INSERT INTO procedures VALUES ('zz_test', 'Prueba', 'Test', 15, true, ARRAY['a b', 'c d'], ARRAY['a b'])"
check "a procedure without documents is refused" rejects 23514 \
    "INSERT INTO procedures VALUES ('zz_test', 'Prueba', 'Test', 15, true, '{}', '{}')"
check "a zero duration is refused" rejects 23514 \
    "INSERT INTO procedures VALUES ('zz_test', 'Prueba', 'Test', 0, true, ARRAY['a b'], ARRAY['a b'])"
check "country and city search is indexed" eq \
    "$(q "SELECT count(*) FROM pg_indexes WHERE tablename = 'offices' AND indexdef LIKE '%(country, city)%'")" 1

# ---- time zone data ----------------------------------------------------------------------------------
# PostgreSQL (Appendix B): a nonexistent local time (spring forward) takes the offset in force just
# before the transition; an ambiguous one (fall back) the offset in force just after it.
tz=$(q "SELECT time_zone FROM offices WHERE code = 'LAX'")
check "LAX 2026-03-08 02:30 (nonexistent) is read as PST" eq \
    "$(q "SELECT to_char(('2026-03-08 02:30'::timestamp AT TIME ZONE '$tz') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')")" \
    "2026-03-08 10:30"
check "... and shown back as 03:30 PDT" eq \
    "$(q "SELECT to_char(('2026-03-08 02:30'::timestamp AT TIME ZONE '$tz') AT TIME ZONE '$tz', 'HH24:MI')")" "03:30"
check "LAX 2026-11-01 01:30 (ambiguous) is read as PST" eq \
    "$(q "SELECT to_char(('2026-11-01 01:30'::timestamp AT TIME ZONE '$tz') AT TIME ZONE 'UTC', 'HH24:MI')")" "09:30"
check "the spring-forward day has 23 hours in Los Angeles" eq \
    "$(q "SELECT ('2026-03-09'::timestamp AT TIME ZONE '$tz') - ('2026-03-08'::timestamp AT TIME ZONE '$tz')")" \
    "23:00:00"
check "Phoenix does not change: 12:00 is 19:00 UTC in January and July" eq \
    "$(q "SELECT string_agg(to_char((d::timestamp AT TIME ZONE 'America/Phoenix') AT TIME ZONE 'UTC', 'HH24:MI'), ',')
          FROM unnest(ARRAY['2026-01-15 12:00', '2026-07-15 12:00']) d")" "19:00,19:00"
check "Madrid 08:00 on 2026-03-29 (after its change) is 06:00 UTC" eq \
    "$(q "SELECT to_char(('2026-03-29 08:00'::timestamp AT TIME ZONE 'Europe/Madrid') AT TIME ZONE 'UTC', 'HH24:MI')")" \
    "06:00"
check "Auckland opening hours fall on the previous UTC day" eq \
    "$(q "SELECT to_char(('2026-07-01 08:00'::timestamp AT TIME ZONE 'Pacific/Auckland') AT TIME ZONE 'UTC',
          'YYYY-MM-DD HH24:MI')")" "2026-06-30 20:00"

echo "reference: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
