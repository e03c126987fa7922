/*
 * The pool: calls (copied statements), the queue of calls waiting for a connection, dispatch at the end
 * of the loop turn, the tick that enforces timeouts and reconnects, and the public API.
 */
#include "pg_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pg_tx {
    struct pg_pool *pool;
    struct pg_call *call;
    unsigned timeout_ms;
};

void pg_callq_push(struct pg_callq *q, struct pg_call *c)
{
    c->next = NULL;
    if (q->tail != NULL)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q->n++;
}

struct pg_call *pg_callq_pop(struct pg_callq *q)
{
    struct pg_call *c = q->head;
    if (c == NULL)
        return NULL;
    q->head = c->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->n--;
    c->next = NULL;
    return c;
}

static void call_free(struct pg_call *call)
{
    if (call == NULL)
        return;
    for (int i = 0; i < call->nstmt; i++) {
        if (call->results != NULL && call->results[i] != NULL)
            PQclear(call->results[i]);
        free(call->stmts[i]);
    }
    if (call->prep_err != NULL)
        PQclear(call->prep_err);
    free(call->results);
    free(call->stmts);
    free(call);
}

/* Copies one statement into a single allocation. */
static struct pg_stmt *stmt_new(const char *sql, int nparams, const char *const *values)
{
    size_t size = sizeof(struct pg_stmt) + (size_t)nparams * sizeof(char *) + strlen(sql) + 1;
    for (int i = 0; i < nparams; i++)
        if (values[i] != NULL)
            size += strlen(values[i]) + 1;
    struct pg_stmt *s = malloc(size);
    if (s == NULL)
        return NULL;
    char **vals = (char **)(s + 1);
    char *p = (char *)(vals + nparams);
    s->nparams = nparams;
    s->values = nparams > 0 ? vals : NULL;
    for (int i = 0; i < nparams; i++) {
        if (values[i] == NULL) {
            vals[i] = NULL;
            continue;
        }
        size_t len = strlen(values[i]) + 1;
        memcpy(p, values[i], len);
        vals[i] = p;
        p += len;
    }
    s->sql = p;
    memcpy(p, sql, strlen(sql) + 1);
    return s;
}

static int call_add(struct pg_call *call, const char *sql, int nparams, const char *const *values)
{
    if (sql == NULL || nparams < 0 || nparams > 65535 || (nparams > 0 && values == NULL))
        return -EINVAL;
    if (call->nstmt == call->cap) {
        int cap = call->cap ? call->cap * 2 : 4;
        struct pg_stmt **s = realloc(call->stmts, (size_t)cap * sizeof(*s));
        if (s == NULL)
            return -ENOMEM;
        call->stmts = s;
        call->cap = cap;
    }
    struct pg_stmt *s = stmt_new(sql, nparams, values);
    if (s == NULL)
        return -ENOMEM;
    call->stmts[call->nstmt++] = s;
    return 0;
}

static int pool_usable(struct pg_pool *pool)
{
    return pool != NULL && !pool->destroyed;
}

/* Accepts a complete call: it will be sent at the end of this turn. Consumes the call on failure too. */
static int submit(struct pg_pool *pool, struct pg_call *call, unsigned timeout_ms, pg_cb cb, void *ctx)
{
    if (pool->stats.in_flight >= pool->max_pending) {
        call_free(call);
        return -EAGAIN;
    }
    call->results = calloc((size_t)call->nstmt, sizeof(PGresult *));
    if (call->results == NULL) {
        call_free(call);
        return -ENOMEM;
    }
    call->cb = cb;
    call->ctx = ctx;
    call->deadline = ring_now(pool->ring) + (timeout_ms ? timeout_ms : pool->timeout_ms);
    pg_callq_push(&pool->pending, call);
    pool->stats.queries++;
    pool->stats.in_flight++;
    pg_pool_schedule(pool);
    pg_pool_ensure_tick(pool);
    return 0;
}

int pg_query_timeout(struct pg_pool *pool, unsigned timeout_ms, const char *sql, int nparams,
                     const char *const *values, pg_cb cb, void *ctx)
{
    if (!pool_usable(pool) || cb == NULL)
        return -EINVAL;
    struct pg_call *call = calloc(1, sizeof(*call));
    if (call == NULL)
        return -ENOMEM;
    int rc = call_add(call, sql, nparams, values);
    if (rc < 0) {
        call_free(call);
        return rc;
    }
    return submit(pool, call, timeout_ms, cb, ctx);
}

int pg_query(struct pg_pool *pool, const char *sql, int nparams, const char *const *values, pg_cb cb,
             void *ctx)
{
    return pg_query_timeout(pool, 0, sql, nparams, values, cb, ctx);
}

struct pg_tx *pg_tx_begin(struct pg_pool *pool)
{
    if (!pool_usable(pool))
        return NULL;
    struct pg_tx *tx = calloc(1, sizeof(*tx));
    if (tx == NULL)
        return NULL;
    tx->call = calloc(1, sizeof(*tx->call));
    if (tx->call == NULL) {
        free(tx);
        return NULL;
    }
    tx->pool = pool;
    return tx;
}

int pg_tx_add(struct pg_tx *tx, const char *sql, int nparams, const char *const *values)
{
    if (tx == NULL)
        return -EINVAL;
    int rc = call_add(tx->call, sql, nparams, values);
    if (rc < 0 && tx->call->add_error == 0)
        tx->call->add_error = rc;
    return rc;
}

void pg_tx_set_timeout(struct pg_tx *tx, unsigned timeout_ms)
{
    if (tx != NULL)
        tx->timeout_ms = timeout_ms;
}

int pg_tx_commit(struct pg_tx *tx, pg_cb cb, void *ctx)
{
    if (tx == NULL)
        return -EINVAL;
    struct pg_pool *pool = tx->pool;
    struct pg_call *call = tx->call;
    unsigned timeout_ms = tx->timeout_ms;
    free(tx);
    int rc = call->add_error;
    if (rc == 0 && (call->nstmt == 0 || cb == NULL || !pool_usable(pool)))
        rc = -EINVAL;
    if (rc < 0) {
        call_free(call);
        return rc;
    }
    return submit(pool, call, timeout_ms, cb, ctx);
}

void pg_tx_abort(struct pg_tx *tx)
{
    if (tx == NULL)
        return;
    call_free(tx->call);
    free(tx);
}

static void deliver(struct pg_pool *pool, struct pg_call *call, const struct pg_reply *reply)
{
    pool->stats.in_flight--;
    if (reply->status != PG_OK)
        pool->stats.errors++;
    if (reply->status == PG_ERR_TIMEOUT)
        pool->stats.timeouts++;
    if (call->cb != NULL)
        call->cb(reply, call->ctx);
    call_free(call);
}

void pg_call_finish(struct pg_pool *pool, struct pg_call *call, enum pg_status st, const char *message)
{
    struct pg_reply reply = {
        .status = st, .results = NULL, .nresults = 0, .failed = -1, .sqlstate = "", .message = message};
    deliver(pool, call, &reply);
}

/* All results of the call are in: success, or the first failing statement. */
void pg_call_complete(struct pg_pool *pool, struct pg_call *call)
{
    struct pg_reply reply = {.status = PG_OK,
                             .results = (const PGresult *const *)call->results,
                             .nresults = call->nstmt,
                             .failed = -1,
                             .sqlstate = "",
                             .message = ""};
    if (call->prep_err != NULL) {
        /* a Prepare failed: every statement was skipped; report the failure as that statement's */
        int i = call->prep_failed;
        if (call->results[i] != NULL)
            PQclear(call->results[i]);
        call->results[i] = call->prep_err;
        call->prep_err = NULL;
        const char *state = PQresultErrorField(call->results[i], PG_DIAG_SQLSTATE);
        reply.status = PG_ERR_QUERY;
        reply.failed = i;
        reply.sqlstate = state != NULL ? state : "";
        reply.message = PQresultErrorMessage(call->results[i]);
        deliver(pool, call, &reply);
        return;
    }
    for (int i = 0; i < call->nstmt; i++) {
        const PGresult *r = call->results[i];
        ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY)
            continue;
        reply.status = PG_ERR_QUERY;
        reply.failed = i;
        const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        reply.sqlstate = state != NULL ? state : "";
        reply.message = r != NULL ? PQresultErrorMessage(r) : "missing result";
        break;
    }
    deliver(pool, call, &reply);
}

static void pool_free(struct pg_pool *pool)
{
    for (unsigned i = 0; pool->conns != NULL && i < pool->size; i++)
        pg_prep_clear(&pool->conns[i]);
    free(pool->conns);
    free(pool->conninfo);
    free(pool);
}

void pg_pool_enter(struct pg_pool *pool)
{
    pool->busy++;
}

int pg_pool_leave(struct pg_pool *pool)
{
    pool->busy--;
    if (pool->destroyed && pool->busy == 0 && pool->ops_live == 0 && !pool->defer_queued) {
        pool_free(pool);
        return 1;
    }
    return 0;
}

/* End of turn: hand the waiting calls to the least loaded ready connections. */
static void on_dispatch(struct ring_defer *d)
{
    struct pg_pool *pool = (struct pg_pool *)d;
    pool->defer_queued = 0;
    pg_pool_enter(pool);
    while (!pool->destroyed && pool->pending.head != NULL) {
        struct pg_conn *best = NULL;
        for (unsigned i = 0; i < pool->size; i++) {
            struct pg_conn *c = &pool->conns[i];
            if (c->state == CONN_READY && (best == NULL || c->inflight.n < best->inflight.n))
                best = c;
        }
        if (best == NULL)
            break; /* they wait for a connection, or their timeout */
        pg_conn_send(best, pg_callq_pop(&pool->pending));
    }
    for (unsigned i = 0; !pool->destroyed && i < pool->size; i++) {
        struct pg_conn *c = &pool->conns[i];
        if (c->state == CONN_READY && c->inflight.n > pool->stats.max_pipeline)
            pool->stats.max_pipeline = c->inflight.n;
    }
    pg_pool_leave(pool);
}

void pg_pool_schedule(struct pg_pool *pool)
{
    if (pool->defer_queued || pool->destroyed)
        return;
    pool->defer_queued = 1;
    ring_defer(pool->ring, &pool->defer);
}

static void on_tick(struct ring_op *op, int res)
{
    struct pg_pool *pool = op->data;
    (void)res;
    pool->ops_live--;
    pg_pool_enter(pool);
    if (!pool->destroyed) {
        uint64_t now = ring_now(pool->ring);
        /* calls that never found a connection: nothing was sent, so this failure is clean */
        struct pg_callq keep = {0};
        struct pg_call *call;
        while ((call = pg_callq_pop(&pool->pending)) != NULL) {
            if (call->deadline <= now)
                pg_call_finish(pool, call, PG_ERR_TIMEOUT, "timed out waiting for a connection");
            else
                pg_callq_push(&keep, call);
            if (pool->destroyed)
                break;
        }
        /* calls queued by callbacks meanwhile go behind the older ones */
        while (!pool->destroyed && (call = pg_callq_pop(&pool->pending)) != NULL)
            pg_callq_push(&keep, call);
        if (!pool->destroyed)
            pool->pending = keep;
        else
            while ((call = pg_callq_pop(&keep)) != NULL)
                pg_call_finish(pool, call, PG_ERR_SHUTDOWN, "pool destroyed");
        for (unsigned i = 0; !pool->destroyed && i < pool->size; i++)
            pg_conn_tick(&pool->conns[i], now);
        pg_pool_ensure_tick(pool);
    }
    pg_pool_leave(pool);
}

void pg_pool_ensure_tick(struct pg_pool *pool)
{
    if (pool->destroyed || pool->tick.in_flight)
        return;
    int needed = pool->pending.n > 0;
    for (unsigned i = 0; !needed && i < pool->size; i++)
        needed = pool->conns[i].state != CONN_READY || pool->conns[i].inflight.n > 0;
    if (!needed)
        return;
    if (ring_timeout(pool->ring, &pool->tick, PG_TICK_MS) == 0)
        pool->ops_live++;
}

int pg_pool_create(struct ring *ring, const struct pg_pool_config *cfg, struct pg_pool **out)
{
    if (ring == NULL || cfg == NULL || cfg->conninfo == NULL || out == NULL)
        return -EINVAL;
    struct pg_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return -ENOMEM;
    pool->ring = ring;
    pool->size = cfg->size ? cfg->size : 2;
    pool->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
    pool->max_pending = cfg->max_pending ? cfg->max_pending : 100000;
    pool->max_backoff_ms = cfg->max_backoff_ms ? cfg->max_backoff_ms : 2000;
    pool->conninfo = strdup(cfg->conninfo);
    pool->conns = calloc(pool->size, sizeof(*pool->conns));
    if (pool->conninfo == NULL || pool->conns == NULL) {
        pool_free(pool);
        return -ENOMEM;
    }
    pool->defer.cb = on_dispatch;
    pool->tick.cb = on_tick;
    pool->tick.data = pool;
    pg_pool_enter(pool);
    for (unsigned i = 0; i < pool->size; i++) {
        struct pg_conn *c = &pool->conns[i];
        c->pool = pool;
        c->state = CONN_WAIT;
        c->backoff_ms = PG_BACKOFF_START_MS;
        c->rd.data = c;
        c->wr.data = c;
        pg_conn_start(c);
    }
    pg_pool_ensure_tick(pool);
    pool->busy--;
    *out = pool;
    return 0;
}

void pg_pool_destroy(struct pg_pool *pool)
{
    if (pool == NULL || pool->destroyed)
        return;
    pool->destroyed = 1;
    pg_pool_enter(pool);
    struct pg_call *call;
    while ((call = pg_callq_pop(&pool->pending)) != NULL)
        pg_call_finish(pool, call, PG_ERR_SHUTDOWN, "pool destroyed");
    for (unsigned i = 0; i < pool->size; i++)
        pg_conn_reset(&pool->conns[i], PG_ERR_SHUTDOWN, "pool destroyed");
    if (pool->tick.in_flight)
        ring_cancel(pool->ring, &pool->tick);
    pg_pool_leave(pool);
}

unsigned pg_forget(struct pg_pool *pool, void *ctx)
{
    if (pool == NULL)
        return 0;
    unsigned n = 0;
    for (unsigned i = 0; i <= pool->size; i++) {
        struct pg_callq *q = i < pool->size ? &pool->conns[i].inflight : &pool->pending;
        for (struct pg_call *c = q->head; c != NULL; c = c->next) {
            if (c->cb != NULL && c->ctx == ctx) {
                c->cb = NULL;
                n++;
            }
        }
    }
    return n;
}

void pg_get_stats(const struct pg_pool *pool, struct pg_stats *out)
{
    *out = pool->stats;
    out->connections_ready = 0;
    for (unsigned i = 0; i < pool->size; i++)
        if (pool->conns[i].state == CONN_READY)
            out->connections_ready++;
}

const char *pg_status_str(enum pg_status st)
{
    switch (st) {
    case PG_OK:
        return "ok";
    case PG_ERR_QUERY:
        return "query error";
    case PG_ERR_CONN:
        return "connection error";
    case PG_ERR_TIMEOUT:
        return "timeout";
    case PG_ERR_SHUTDOWN:
        return "pool destroyed";
    }
    return "unknown";
}

const char *pg_error_message(const struct pg_reply *r)
{
    if (r->status != PG_ERR_QUERY || r->failed < 0 || r->failed >= r->nresults)
        return NULL;
    return PQresultErrorField(r->results[r->failed], PG_DIAG_MESSAGE_PRIMARY);
}

const char *pg_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
