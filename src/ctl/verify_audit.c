/*
 * citasctl verify-audit --public-key PEM [--dsn DSN] [--no-chain]
 *
 * First moves the records still in audit_pending into the chain (audit_chain_pending(), sql/010, waiting
 * for the advisory lock like any chainer), so that everything recorded so far is checked; --no-chain
 * leaves them and only reports how many there are. Then walks audit_log in id order: each record's prev_hash
 * must be the previous record's hash (32 zero bytes for the first) and its hash must be what audit_row_hash()
 * (sql/008_audit.sql, the function the chainers use) computes from its fields. Then every signed head in
 * audit_heads must carry a valid Ed25519 signature by the public key and name a record whose hash it matches.
 * Prints "audit chain OK: N records, M signed heads" (and what was chained first or is still pending) and
 * exits 0, or names the first broken record or head and exits 1 (2 for usage or connection errors).
 */
#include "ctl.h"
#include "citas/audit.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH "5000"

static int walk_chain(PGconn *conn, long long *count)
{
    unsigned char expect[AUDIT_HASH_LEN] = {0};
    char after[24] = "0";
    *count = 0;
    for (;;) {
        PGresult *res;
        const char *v[1] = {after};
        if (ctl_exec(
                conn,
                "SELECT id, prev_hash, hash, audit_row_hash(prev_hash, id, at, actor_account, actor_role,"
                " action, subject, detail, client_ip) FROM audit_log WHERE id > $1::bigint ORDER BY id"
                " LIMIT " BATCH,
                1, v, &res) != 0)
            return -2;
        int n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            const char *id = PQgetvalue(res, i, 0);
            unsigned char prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN], re[AUDIT_HASH_LEN];
            const char *why = NULL;
            if (audit_bytea_decode(PQgetvalue(res, i, 1), prev, sizeof(prev)) != AUDIT_HASH_LEN ||
                audit_bytea_decode(PQgetvalue(res, i, 2), hash, sizeof(hash)) != AUDIT_HASH_LEN ||
                audit_bytea_decode(PQgetvalue(res, i, 3), re, sizeof(re)) != AUDIT_HASH_LEN)
                why = "malformed hash";
            else if (memcmp(prev, expect, sizeof(prev)) != 0)
                why = "prev_hash does not match the previous record's hash (a record was removed or changed)";
            else if (memcmp(hash, re, sizeof(hash)) != 0)
                why = "hash does not match the record's contents (the record was changed)";
            if (why != NULL) {
                printf("audit chain BROKEN at record %s: %s\n", id, why);
                PQclear(res);
                return -1;
            }
            memcpy(expect, hash, sizeof(expect));
            snprintf(after, sizeof(after), "%s", id);
            (*count)++;
        }
        PQclear(res);
        if (n == 0)
            return 0;
    }
}

static int check_heads(PGconn *conn, void *pub, long long *count)
{
    PGresult *res;
    *count = 0;
    if (ctl_exec(conn,
                 "SELECT h.id, h.upto_id, h.head_hash, h.signature, l.hash FROM audit_heads h"
                 " LEFT JOIN audit_log l ON l.id = h.upto_id ORDER BY h.id",
                 0, NULL, &res) != 0)
        return -2;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        const char *id = PQgetvalue(res, i, 0);
        long long upto = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        unsigned char head[AUDIT_HASH_LEN], row[AUDIT_HASH_LEN], sig[AUDIT_SIG_LEN + 1];
        int siglen = audit_bytea_decode(PQgetvalue(res, i, 3), sig, sizeof(sig));
        if (audit_bytea_decode(PQgetvalue(res, i, 2), head, sizeof(head)) != AUDIT_HASH_LEN || siglen < 0 ||
            !audit_verify_head(pub, upto, head, sig, (size_t)siglen)) {
            printf("audit chain BROKEN: signed head %s (up to record %lld) has an invalid signature\n", id,
                   upto);
            rc = -1;
        } else if (PQgetisnull(res, i, 4)) {
            printf("audit chain BROKEN at record %lld: signed head %s names a record that is missing\n", upto,
                   id);
            rc = -1;
        } else if (audit_bytea_decode(PQgetvalue(res, i, 4), row, sizeof(row)) != AUDIT_HASH_LEN ||
                   memcmp(row, head, sizeof(row)) != 0) {
            printf("audit chain BROKEN at record %lld: its hash differs from signed head %s\n", upto, id);
            rc = -1;
        } else {
            (*count)++;
        }
    }
    PQclear(res);
    return rc;
}

/* Chains pending records in batches until a batch comes back short; the count, or -1. */
static long long chain_pending(PGconn *conn)
{
    long long total = 0;
    for (;;) {
        PGresult *res;
        if (ctl_exec(conn, "SELECT audit_chain_pending(" BATCH ", true)", 0, NULL, &res) != 0)
            return -1;
        long long n = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
        total += n > 0 ? n : 0;
        if (n < atoll(BATCH))
            return total;
    }
}

static long long count_pending(PGconn *conn)
{
    PGresult *res;
    if (ctl_exec(conn, "SELECT count(*) FROM audit_pending", 0, NULL, &res) != 0)
        return -1;
    long long n = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

int ctl_verify_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"public-key", required_argument, NULL, 'k'},
        {"dsn", required_argument, NULL, 'd'},
        {"no-chain", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *keypath = NULL, *dsn = NULL;
    int c, no_chain = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            keypath = optarg;
            break;
        case 'd':
            dsn = optarg;
            break;
        case 'n':
            no_chain = 1;
            break;
        default:
            fprintf(stderr, "usage: citasctl verify-audit --public-key PEM [--dsn DSN] [--no-chain]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (keypath == NULL || optind != argc) {
        fprintf(stderr, "usage: citasctl verify-audit --public-key PEM [--dsn DSN] [--no-chain]\n");
        return 2;
    }
    void *pub = audit_load_public_key(keypath);
    if (pub == NULL) {
        fprintf(stderr, "citasctl verify-audit: %s: not a readable Ed25519 PEM public key\n", keypath);
        return 2;
    }
    PGconn *conn = ctl_connect(ctl_dsn(dsn));
    if (conn == NULL) {
        audit_free_key(pub);
        return 2;
    }
    long long records = 0, heads = 0, chained = no_chain ? 0 : chain_pending(conn);
    int rc = chained < 0 ? -2 : walk_chain(conn, &records);
    if (rc == 0)
        rc = check_heads(conn, pub, &heads);
    long long pending = rc == 0 ? count_pending(conn) : 0;
    if (pending < 0)
        rc = -2;
    PQfinish(conn);
    audit_free_key(pub);
    if (rc == 0) {
        printf("audit chain OK: %lld records, %lld signed heads", records, heads);
        if (chained > 0)
            printf("; %lld pending records chained first", chained);
        if (pending > 0)
            printf("; %lld records pending (not yet chained, not checked)", pending);
        printf("\n");
    }
    return rc == 0 ? 0 : rc == -1 ? 1 : 2;
}
