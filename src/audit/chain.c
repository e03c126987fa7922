/*
 * The chainer: moves audit_pending rows into the hash chain with audit_chain_pending() (sql/010). One
 * statement at a time on worker 0's pool; the SQL function takes the advisory lock with a try, so a chainer
 * of another citasd instance (or audit_append()) makes this one skip a turn instead of stalling a pooled
 * connection behind the lock.
 * While the server is busy (busy_requests or more requests waiting on backends, all workers) the chainer
 * skips its turns, for at most busy_max_ms since it last ran: in a release's first seconds PostgreSQL's
 * time goes to the bookings, and the records wait in audit_pending (durable, in the booking's
 * transaction) to be chained a few seconds later.
 */
#include "internal.h"
#include "citas/hex.h"
#include "citas/server.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

atomic_uint_fast64_t audit_chained_total, audit_chain_errors, audit_chain_deferred;

struct audit_chainer {
    struct ring *ring;
    struct pg_pool *pg;
    char *dsn;
    uint64_t interval_ms;
    unsigned batch;
    char batch_text[16];
    struct ring_op timer;
    int stopping;
    uint64_t busy_requests, busy_max_ms;
    uint64_t last_run_ms; /* ring_now() */
};

/* 1 when this turn is skipped because the server is busy (and has not been skipping for too long). */
static int yield_turn(struct audit_chainer *c)
{
    if (!server_busy(c->busy_requests))
        return 0;
    if (ring_now(c->ring) - c->last_run_ms >= c->busy_max_ms)
        return 0;
    atomic_fetch_add(&audit_chain_deferred, 1);
    return 1;
}

static void arm(struct audit_chainer *c);

static void run(struct audit_chainer *c);

static void on_chained(const struct pg_reply *r, void *ctx)
{
    struct audit_chainer *c = ctx;
    if (c->stopping)
        return;
    long n = -1;
    if (r->status == PG_OK && r->nresults == 1 && PQntuples(r->results[0]) == 1)
        n = strtol(PQgetvalue(r->results[0], 0, 0), NULL, 10);
    else
        atomic_fetch_add(&audit_chain_errors, 1);
    if (n > 0)
        atomic_fetch_add(&audit_chained_total, (uint_fast64_t)n);
    /* a full batch: more is waiting, go on at once (unless the server is busy) */
    if (n == (long)c->batch && !yield_turn(c))
        run(c);
    else
        arm(c);
}

static void run(struct audit_chainer *c)
{
    const char *v[1] = {c->batch_text};
    c->last_run_ms = ring_now(c->ring);
    if (pg_query(c->pg, "SELECT audit_chain_pending($1::integer)", 1, v, on_chained, c) != 0) {
        atomic_fetch_add(&audit_chain_errors, 1);
        arm(c);
    }
}

static void on_timer(struct ring_op *op, int res)
{
    struct audit_chainer *c = op->data;
    if (c->stopping || res == -ECANCELED)
        return;
    if (yield_turn(c))
        arm(c);
    else
        run(c);
}

static void arm(struct audit_chainer *c)
{
    if (c->stopping)
        return;
    c->timer.cb = on_timer;
    c->timer.data = c;
    if (ring_timeout(c->ring, &c->timer, c->interval_ms) != 0) {
        atomic_fetch_add(&audit_chain_errors, 1);
        fprintf(stderr,
                "citasd: audit: cannot arm the chain timer; pending records wait for the next start\n");
    }
}

struct audit_chainer *audit_chainer_start(struct ring *ring, struct pg_pool *pg, const char *dsn,
                                          uint64_t interval_ms, unsigned batch, uint64_t busy_requests,
                                          uint64_t busy_max_ms)
{
    struct audit_chainer *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->dsn = strdup(dsn != NULL ? dsn : "");
    if (c->dsn == NULL) {
        free(c);
        return NULL;
    }
    c->ring = ring;
    c->pg = pg;
    c->interval_ms = interval_ms;
    c->batch = batch;
    c->busy_requests = busy_requests;
    c->busy_max_ms = busy_max_ms;
    c->last_run_ms = ring_now(c->ring);
    snprintf(c->batch_text, sizeof(c->batch_text), "%u", batch);
    arm(c);
    return c;
}

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Signs the chain head unless it is signed already. */
static void sign_now(PGconn *conn, void *key)
{
    PGresult *r =
        PQexec(conn, "SELECT l.id, l.hash, (SELECT 1 FROM audit_heads h WHERE h.upto_id = l.id LIMIT 1)"
                     " FROM audit_log l ORDER BY l.id DESC LIMIT 1");
    unsigned char hash[AUDIT_HASH_LEN], sig[AUDIT_SIG_LEN];
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || !PQgetisnull(r, 0, 2) ||
        audit_bytea_decode(PQgetvalue(r, 0, 1), hash, sizeof(hash)) != AUDIT_HASH_LEN ||
        audit_sign_head(key, strtoll(PQgetvalue(r, 0, 0), NULL, 10), hash, sig) != 0) {
        PQclear(r);
        return;
    }
    char sig_hex[2 + 2 * AUDIT_SIG_LEN + 1] = "\\x";
    hex_encode(sig_hex + 2, sig, AUDIT_SIG_LEN);
    const char *v[3] = {PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), sig_hex};
    PQclear(PQexecParams(
        conn, "INSERT INTO audit_heads (upto_id, head_hash, signature) VALUES ($1::bigint, $2, $3)", 3, NULL,
        v, NULL, NULL, 0));
    PQclear(r);
}

/* The final run: blocking on purpose, at shutdown only (this worker serves no client any more). */
static void chain_now(struct audit_chainer *c, void *sign_key)
{
    const char *const keys[] = {"dbname", "connect_timeout", NULL};
    const char *const vals[] = {c->dsn, "2", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "citasd: audit: cannot chain pending records at shutdown: %s",
                conn != NULL ? PQerrorMessage(conn) : "out of memory\n");
        PQfinish(conn);
        return;
    }
    PQsetNoticeProcessor(conn, on_notice, NULL);
    PQclear(PQexec(conn, "SET statement_timeout = 5000"));
    for (int round = 0; round < 100; round++) {
        const char *v[1] = {c->batch_text};
        PGresult *r =
            PQexecParams(conn, "SELECT audit_chain_pending($1::integer, true)", 1, NULL, v, NULL, NULL, 0);
        long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                     ? strtol(PQgetvalue(r, 0, 0), NULL, 10)
                     : -1;
        if (n < 0)
            fprintf(stderr, "citasd: audit: chaining at shutdown failed: %s", PQerrorMessage(conn));
        PQclear(r);
        if (n > 0)
            atomic_fetch_add(&audit_chained_total, (uint_fast64_t)n);
        if (n < (long)c->batch)
            break;
    }
    if (sign_key != NULL)
        sign_now(conn, sign_key);
    PQfinish(conn);
}

void audit_chainer_stop(struct audit_chainer *c, void *sign_key)
{
    if (c == NULL || c->stopping)
        return;
    c->stopping = 1;
    pg_forget(c->pg, c);
    if (c->timer.in_flight)
        ring_cancel(c->ring, &c->timer);
    chain_now(c, sign_key);
}

void audit_chainer_free(struct audit_chainer *c)
{
    if (c == NULL)
        return;
    free(c->dsn);
    free(c);
}
