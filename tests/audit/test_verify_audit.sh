#!/bin/bash
# citasctl verify-audit on a fresh database of CITAS_TEST_PG_DSN's server: an intact chain with heads
# signed by the openssl command line (an independent check of the signed message) verifies; UPDATE, DELETE
# and TRUNCATE are refused; a record changed behind the trigger's back, a removed record, a forged
# signature and a head that does not match the chain are each reported with a non-zero exit. Records
# still pending (audit_add(), sql/010) are reported with --no-chain and chained first otherwise; they cannot
# be deleted or changed while pending, and once chained a change is reported like any other.
# Usage: test_verify_audit.sh CITASCTL SQL_DIR (CITAS_TEST_PG_DSN in key=value form).
set -u
CITASCTL=$(realpath "$1")
SQLDIR=$(realpath "$2")
# shellcheck source=../support/scratch_db.sh
. "$(dirname "$(realpath "$0")")/../support/scratch_db.sh"
scratch_db_init audit-verify
refused() { ! psql "$NEWDSN" -qAtX -v ON_ERROR_STOP=1 -c "$1" >/dev/null 2>"$TMP/err" && grep -q "append-only" "$TMP/err"; }
verify() { # verify WANT_EXIT OUTPUT_PATTERN
    "$CITASCTL" verify-audit --public-key "$TMP/pub.pem" --dsn "$NEWDSN" >"$TMP/out" 2>&1
    local rc=$?
    [ "$rc" = "$1" ] || { echo "  exit $rc, want $1: $(cat "$TMP/out")" >&2; return 1; }
    grep -q -- "$2" "$TMP/out" || { echo "  output: $(cat "$TMP/out"), want /$2/" >&2; return 1; }
}
sign_head() { # sign_head UPTO_ID: signs the current hash of record UPTO_ID with openssl and stores the head
    local hex
    hex=$(q "SELECT encode(hash, 'hex') FROM audit_log WHERE id = $1")
    printf 'citas-audit-head:%s:%s' "$1" "$hex" >"$TMP/msg"
    openssl pkeyutl -sign -rawin -inkey "$TMP/key.pem" -in "$TMP/msg" -out "$TMP/sig" || return 1
    q "INSERT INTO audit_heads (upto_id, head_hash, signature) VALUES ($1, '\\x$hex', '\\x$(xxd -p -c 256 "$TMP/sig")')"
}
unsafe() { # runs SQL with the append-only triggers off, as a superuser tampering with the table would
    psql "$NEWDSN" -qAtX -v ON_ERROR_STOP=1 -c "ALTER TABLE $1 DISABLE TRIGGER USER" -c "$2" \
        -c "ALTER TABLE $1 ENABLE TRIGGER USER" >/dev/null
}

CITAS_SQL_DIR="$SQLDIR" "$CITASCTL" migrate --dir "$SQLDIR" --dsn "$NEWDSN" >/dev/null || { echo "migrate failed" >&2; exit 1; }
openssl genpkey -algorithm ed25519 -out "$TMP/key.pem" 2>/dev/null && openssl pkey -in "$TMP/key.pem" -pubout -out "$TMP/pub.pem" ||
    { echo "openssl genpkey failed" >&2; exit 1; }
openssl genpkey -algorithm ed25519 -out "$TMP/other.pem" 2>/dev/null

check "empty chain verifies" verify 0 "audit chain OK: 0 records, 0 signed heads"
for i in $(seq 1 20); do
    q "SELECT audit_append(NULLIF($i % 3, 0) * 100, 'citizen', 'booking.create', 'appointment:A$i',
       '{\"slot\": \"2026-12-0$((i % 9 + 1))T09:00\", \"n\": $i, \"s\": \"ñandú \\\"q\\\"\"}', '198.51.100.$i')" >/dev/null
done
q "SELECT audit_append(NULL, 'system', 'window.close', NULL, NULL, NULL)" >/dev/null
check "21 records" eq "$(q "SELECT count(*) FROM audit_log")" 21
check "first record chains from zeros" eq "$(q "SELECT encode(prev_hash, 'hex') FROM audit_log WHERE id = 1")" "$(printf '0%.0s' $(seq 64))"
check "head 10 signed" sign_head 10
check "head 21 signed" sign_head 21
check "intact chain verifies" verify 0 "audit chain OK: 21 records, 2 signed heads"
check "wrong public key refused" sh -c "openssl pkey -in '$TMP/other.pem' -pubout -out '$TMP/otherpub.pem' &&
    ! '$CITASCTL' verify-audit --public-key '$TMP/otherpub.pem' --dsn '$NEWDSN' >/dev/null"
check "missing --public-key is a usage error" sh -c "'$CITASCTL' verify-audit --dsn '$NEWDSN' 2>/dev/null; [ \$? = 2 ]"

check "UPDATE refused" refused "UPDATE audit_log SET detail = '{}' WHERE id = 5"
check "DELETE refused" refused "DELETE FROM audit_log WHERE id = 21"
check "TRUNCATE refused" refused "TRUNCATE audit_log"
check "heads UPDATE refused" refused "UPDATE audit_heads SET upto_id = 1"
check "heads DELETE refused" refused "DELETE FROM audit_heads"

# a record changed behind the trigger's back
save=$(q "SELECT detail::text FROM audit_log WHERE id = 7")
check "tamper detail of 7" unsafe audit_log "UPDATE audit_log SET detail = detail || '{\"n\": 70}' WHERE id = 7"
check "changed record 7 reported" verify 1 "BROKEN at record 7:"
check "restore 7" unsafe audit_log "UPDATE audit_log SET detail = '$save' WHERE id = 7"
check "restored chain verifies" verify 0 "audit chain OK: 21 records, 2 signed heads"
# changed and re-hashed: the next record's link breaks
check "tamper and rehash 12" unsafe audit_log "UPDATE audit_log SET actor_role = 'sysadmin',
    hash = audit_row_hash(prev_hash, id, at, actor_account, 'sysadmin', action, subject, detail, client_ip) WHERE id = 12"
check "rehashed record reported at 13" verify 1 "BROKEN at record 13:"
check "restore 12" unsafe audit_log "UPDATE audit_log SET actor_role = 'citizen',
    hash = audit_row_hash(prev_hash, id, at, actor_account, 'citizen', action, subject, detail, client_ip) WHERE id = 12"
check "chain verifies again" verify 0 "audit chain OK"
# a removed record
check "copy 15" q "CREATE TABLE saved AS SELECT * FROM audit_log WHERE id = 15"
check "delete 15" unsafe audit_log "DELETE FROM audit_log WHERE id = 15"
check "removed record reported at 16" verify 1 "BROKEN at record 16:"
check "put 15 back" unsafe audit_log "INSERT INTO audit_log SELECT * FROM saved"
check "chain verifies after restore" verify 0 "audit chain OK: 21 records"
# the tail rewritten consistently (all hashes recomputed from 20 on) is caught by the signed head
check "rewrite tail" unsafe audit_log "UPDATE audit_log SET subject = 'forged',
    hash = audit_row_hash(prev_hash, id, at, actor_account, actor_role, action, 'forged', detail, client_ip) WHERE id = 21"
check "rewritten tail reported by head" verify 1 "BROKEN at record 21: its hash differs from signed head"
check "restore 21" unsafe audit_log "UPDATE audit_log SET subject = '',
    hash = audit_row_hash(prev_hash, id, at, actor_account, actor_role, action, '', detail, client_ip) WHERE id = 21"
check "verifies once more" verify 0 "audit chain OK: 21 records, 2 signed heads"
# a forged signature
check "tamper signature" unsafe audit_heads "UPDATE audit_heads SET signature = set_byte(signature, 3, get_byte(signature, 3) # 1) WHERE upto_id = 10"
check "bad signature reported" verify 1 "signed head 1 (up to record 10) has an invalid signature"
check "restore signature" unsafe audit_heads "UPDATE audit_heads SET signature = set_byte(signature, 3, get_byte(signature, 3) # 1) WHERE upto_id = 10"
check "verifies after signature restore" verify 0 "audit chain OK"
check "head for a missing record" q "INSERT INTO audit_heads (upto_id, head_hash, signature) SELECT 99, head_hash, signature FROM audit_heads WHERE upto_id = 10"
check "head with moved id reported" verify 1 "invalid signature"

check "remove the bogus head" unsafe audit_heads "DELETE FROM audit_heads WHERE upto_id = 99"
check "verifies without it" verify 0 "audit chain OK: 21 records, 2 signed heads"

# lock-free recording: pending until a chainer (or verify-audit) links them
for i in 1 2 3 4 5; do
    q "SELECT audit_add(NULL, 'consular_staff', 'window.close', 'window:$i', '{\"office\": \"LAX\"}', '203.0.113.$i')" >/dev/null
done
check "5 pending" eq "$(q "SELECT count(*) FROM audit_pending")" 5
check "pending DELETE refused" refused "DELETE FROM audit_pending WHERE subject = 'window:3'"
check "pending UPDATE refused" refused "UPDATE audit_pending SET subject = 'x'"
check "pending TRUNCATE refused" refused "TRUNCATE audit_pending"
check "--no-chain reports them" sh -c "'$CITASCTL' verify-audit --no-chain --public-key '$TMP/pub.pem' --dsn '$NEWDSN' |
    grep -q 'audit chain OK: 21 records, 2 signed heads; 5 records pending'"
check "still 5 pending" eq "$(q "SELECT count(*) FROM audit_pending")" 5
check "chained first, then verified" verify 0 "audit chain OK: 26 records, 2 signed heads; 5 pending records chained first"
check "nothing pending" eq "$(q "SELECT count(*) FROM audit_pending")" 0
check "chained in pending order" eq "$(q "SELECT string_agg(subject, ',' ORDER BY id) FROM audit_log WHERE id > 21")" \
    "window:1,window:2,window:3,window:4,window:5"
check "they link to the old head" eq "$(q "SELECT (SELECT prev_hash FROM audit_log WHERE id = 22) = (SELECT hash FROM audit_log WHERE id = 21)")" t
# one chainer at a time: while a transaction holds the chain lock, a chainer without wait skips its turn
q "SELECT audit_add(NULL, 'system', 'test.lock', 'lock:1', NULL, NULL)" >/dev/null
psql "$NEWDSN" -qAtX -c "BEGIN" -c "SELECT audit_chain_pending(0)" -c "SELECT pg_sleep(5)" -c "COMMIT" >/dev/null &
holder=$!
for _ in $(seq 100); do
    [ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory'
           AND l.granted AND d.datname = current_database()")" != 0 ] && break
    sleep 0.1
done
check "a second chainer skips its turn (-1)" eq "$(q "SELECT audit_chain_pending(10)")" -1
check "and one that waits gets the record" eq "$(q "SELECT audit_chain_pending(10, true)")" 1
wait $holder
check "tamper a chained record" unsafe audit_log "UPDATE audit_log SET client_ip = '198.51.100.99' WHERE id = 24"
check "reported at 24" verify 1 "BROKEN at record 24: hash does not match"
check "the lock test's record chained after the others" eq "$(q "SELECT id FROM audit_log WHERE subject = 'lock:1'")" 27

scratch_db_finish
