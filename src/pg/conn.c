/*
 * One libpq connection of a pool: nonblocking connect driven by ring polls, pipeline mode, sending calls
 * (statements + one Sync each), reading results in order, and resets.
 *
 * Invariants: libpq may close or replace its socket only while none of our polls is in flight on it
 * (PQconnectPoll runs after the one poll of the connect phase came back); after a reset the connection
 * stays CLOSING until its cancelled polls are back, so its ring_ops are never reused while in flight.
 */
#include "pg_internal.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

static void on_rd(struct ring_op *op, int res);
static void on_wr(struct ring_op *op, int res);

static void on_notice(void *arg, const char *message)
{
    /* notices (e.g. "relation already exists, skipping") are not errors: the module does not print */
    (void)arg;
    (void)message;
}

static int arm(struct pg_conn *c, struct ring_op *op, unsigned events)
{
    if (op->in_flight)
        return 0;
    int fd = PQsocket(c->pq);
    if (fd < 0)
        return -1;
    op->cb = op == &c->rd ? on_rd : on_wr;
    if (ring_poll(c->pool->ring, op, fd, events) != 0)
        return -1;
    c->pool->ops_live++;
    return 0;
}

void pg_conn_reset(struct pg_conn *c, enum pg_status st, const char *message)
{
    struct pg_pool *pool = c->pool;
    if (c->state == CONN_WAIT || c->state == CONN_CLOSING)
        return;
    if (c->state == CONN_CONNECTING)
        pool->stats.connects_failed++;
    c->state = CONN_CLOSING;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", message);
    size_t len = strlen(msg);
    while (len > 0 && msg[len - 1] == '\n')
        msg[--len] = '\0';
    /* the socket closes here; polls still in flight on it are cancelled and come back later */
    PQfinish(c->pq);
    c->pq = NULL;
    if (c->rd.in_flight)
        ring_cancel(pool->ring, &c->rd);
    if (c->wr.in_flight)
        ring_cancel(pool->ring, &c->wr);
    uint64_t now = ring_now(pool->ring);
    c->retry_at = now + c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > pool->max_backoff_ms ? pool->max_backoff_ms : c->backoff_ms * 2;
    if (!c->rd.in_flight && !c->wr.in_flight)
        c->state = CONN_WAIT;
    /* the server runs a pipeline in order, so a call that is late makes every call behind it late:
     * expired ones report the timeout, the others the reset */
    pg_prep_clear(c); /* the server session of those statements is gone */
    struct pg_call *call;
    while ((call = pg_callq_pop(&c->inflight)) != NULL) {
        if (st != PG_ERR_SHUTDOWN && call->deadline <= now)
            pg_call_finish(pool, call, PG_ERR_TIMEOUT, "timed out; connection reset");
        else
            pg_call_finish(pool, call, st, msg);
    }
    pg_pool_ensure_tick(pool);
}

static void reset_pq(struct pg_conn *c, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s", what, c->pq != NULL ? PQerrorMessage(c->pq) : "no connection");
    pg_conn_reset(c, PG_ERR_CONN, msg);
}

static void became_ready(struct pg_conn *c)
{
    struct pg_pool *pool = c->pool;
    if (PQsetnonblocking(c->pq, 1) != 0) {
        reset_pq(c, "PQsetnonblocking");
        return;
    }
    if (PQenterPipelineMode(c->pq) != 1) {
        reset_pq(c, "PQenterPipelineMode");
        return;
    }
    c->state = CONN_READY;
    c->backoff_ms = PG_BACKOFF_START_MS;
    if (c->ever_ready)
        pool->stats.reconnects++;
    c->ever_ready = 1;
    /* always listening: a server that goes away is noticed even when the connection is idle */
    if (arm(c, &c->rd, POLLIN) != 0) {
        reset_pq(c, "ring_poll");
        return;
    }
    pg_pool_schedule(pool);
}

static void continue_connect(struct pg_conn *c)
{
    switch (PQconnectPoll(c->pq)) {
    case PGRES_POLLING_OK:
        became_ready(c);
        return;
    case PGRES_POLLING_READING:
        if (arm(c, &c->rd, POLLIN) != 0)
            reset_pq(c, "connect");
        return;
    case PGRES_POLLING_WRITING:
        if (arm(c, &c->wr, POLLOUT) != 0)
            reset_pq(c, "connect");
        return;
    default:
        reset_pq(c, "connect");
        return;
    }
}

void pg_conn_start(struct pg_conn *c)
{
    struct pg_pool *pool = c->pool;
    c->pq = PQconnectStart(pool->conninfo);
    c->state = CONN_CONNECTING;
    c->connect_deadline = ring_now(pool->ring) + pool->timeout_ms;
    if (c->pq == NULL) {
        pg_conn_reset(c, PG_ERR_CONN, "out of memory");
        return;
    }
    if (PQstatus(c->pq) == CONNECTION_BAD) {
        reset_pq(c, "connect");
        return;
    }
    PQsetNoticeProcessor(c->pq, on_notice, NULL);
    /* PQconnectStart's contract: behave as if PQconnectPoll had asked for writability */
    if (arm(c, &c->wr, POLLOUT) != 0)
        reset_pq(c, "connect");
}

static void flush_out(struct pg_conn *c)
{
    int r = PQflush(c->pq);
    if (r < 0)
        reset_pq(c, "send");
    else if (r > 0 && arm(c, &c->wr, POLLOUT) != 0)
        reset_pq(c, "ring_poll");
}

static int send_stmt(struct pg_conn *c, const struct pg_stmt *s)
{
    if (s->prep_slot < 0)
        return PQsendQueryParams(c->pq, s->sql, s->nparams, NULL, (const char *const *)s->values, NULL, NULL,
                                 0);
    char name[32];
    pg_prep_name(c->prep[s->prep_slot].id, name, sizeof(name));
    return PQsendQueryPrepared(c->pq, name, s->nparams, (const char *const *)s->values, NULL, NULL, 0);
}

void pg_conn_send(struct pg_conn *c, struct pg_call *call)
{
    /* in flight from here: if sending fails, the reset fails this call with the others */
    pg_callq_push(&c->inflight, call);
    call->preps_left = 0;
    call->prep_idx = 0;
    call->in_prep = 0;
    call->prep_failed = -1;
    /* the Prepares first: nothing but another Prepare can make one of them be skipped (see prep.c) */
    for (int i = 0; i < call->nstmt; i++) {
        struct pg_stmt *s = call->stmts[i];
        s->prep_slot = pg_prep_find(c, s, &s->prep_sent);
        if (!s->prep_sent)
            continue;
        char name[32];
        pg_prep_name(c->prep[s->prep_slot].id, name, sizeof(name));
        if (!PQsendPrepare(c->pq, name, s->sql, s->nparams, NULL)) {
            reset_pq(c, "PQsendPrepare");
            return;
        }
        call->preps_left++;
    }
    for (int i = 0; i < call->nstmt; i++) {
        if (!send_stmt(c, call->stmts[i])) {
            reset_pq(c, "PQsendQueryParams");
            return;
        }
    }
    /* one Sync per call: an error aborts only this call's statements (and rolls them back together) */
    if (!PQpipelineSync(c->pq)) {
        reset_pq(c, "PQpipelineSync");
        return;
    }
    flush_out(c);
}

/* The result of the Prepare of the next statement that sent one. Takes `res`. */
static void prep_result(struct pg_conn *c, struct pg_call *call, PGresult *res)
{
    int j = call->prep_idx;
    while (j < call->nstmt && !call->stmts[j]->prep_sent)
        j++;
    call->prep_idx = j + 1;
    call->preps_left--;
    call->in_prep = 1;
    call->got = 1;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || j >= call->nstmt) {
        PQclear(res);
        return;
    }
    pg_prep_kill(c, call->stmts[j]->prep_slot);
    if (call->prep_err == NULL && st != PGRES_PIPELINE_ABORTED) {
        call->prep_err = res; /* reported as the failure of statement j */
        call->prep_failed = j;
    } else {
        PQclear(res);
    }
}

/* A statement run by name that the server no longer knows, or whose plan it will not reuse: forget it. */
static void check_lost(struct pg_conn *c, const struct pg_stmt *s, const PGresult *res)
{
    if (s->prep_slot < 0 || PQresultStatus(res) != PGRES_FATAL_ERROR)
        return;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state != NULL && (strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0))
        pg_prep_kill(c, s->prep_slot);
}

/* Reads every complete result that libpq has buffered and completes calls in order. */
static void process(struct pg_conn *c)
{
    struct pg_pool *pool = c->pool;
    int nulls = 0;
    struct pg_call *call;
    while (c->state == CONN_READY && (call = c->inflight.head) != NULL) {
        if (PQisBusy(c->pq))
            break;
        PGresult *res = PQgetResult(c->pq);
        if (res == NULL) {
            if (call->got) {
                /* end of the results of one Prepare or statement */
                call->got = 0;
                if (call->in_prep)
                    call->in_prep = 0;
                else
                    call->idx++;
                nulls = 0;
                continue;
            }
            if (++nulls > 1)
                break; /* nothing more buffered */
            continue;
        }
        nulls = 0;
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            if (call->idx != call->nstmt || call->got || call->preps_left != 0) {
                pg_conn_reset(c, PG_ERR_CONN, "protocol confusion: early sync");
                return;
            }
            pg_callq_pop(&c->inflight);
            pg_call_complete(pool, call); /* may reset this connection or destroy the pool */
            continue;
        }
        if (call->idx >= call->nstmt || call->got) {
            PQclear(res);
            pg_conn_reset(c, PG_ERR_CONN, "protocol confusion: unexpected result");
            return;
        }
        if (call->preps_left > 0) {
            prep_result(c, call, res);
            continue;
        }
        check_lost(c, call->stmts[call->idx], res);
        call->results[call->idx] = res;
        call->got = 1;
    }
    if (c->state == CONN_READY && PQstatus(c->pq) == CONNECTION_BAD)
        reset_pq(c, "connection lost");
}

static int op_enter(struct pg_conn *c)
{
    c->pool->ops_live--;
    pg_pool_enter(c->pool);
    if (c->state == CONN_CLOSING) {
        if (!c->rd.in_flight && !c->wr.in_flight)
            c->state = CONN_WAIT;
        return 0;
    }
    return c->state == CONN_CONNECTING || c->state == CONN_READY;
}

static void on_rd(struct ring_op *op, int res)
{
    struct pg_conn *c = op->data;
    struct pg_pool *pool = c->pool;
    if (op_enter(c)) {
        if (res < 0) {
            pg_conn_reset(c, PG_ERR_CONN, "poll failed");
        } else if (c->state == CONN_CONNECTING) {
            continue_connect(c);
        } else if (!PQconsumeInput(c->pq)) {
            reset_pq(c, "receive");
        } else {
            process(c);
            if (c->state == CONN_READY)
                flush_out(c); /* libpq may hold output back until it has read */
            if (c->state == CONN_READY && arm(c, &c->rd, POLLIN) != 0)
                reset_pq(c, "ring_poll");
        }
    }
    pg_pool_leave(pool);
}

static void on_wr(struct ring_op *op, int res)
{
    struct pg_conn *c = op->data;
    struct pg_pool *pool = c->pool;
    if (op_enter(c)) {
        if (res < 0)
            pg_conn_reset(c, PG_ERR_CONN, "poll failed");
        else if (c->state == CONN_CONNECTING)
            continue_connect(c);
        else
            flush_out(c);
    }
    pg_pool_leave(pool);
}

void pg_conn_tick(struct pg_conn *c, uint64_t now)
{
    switch (c->state) {
    case CONN_WAIT:
        if (now >= c->retry_at)
            pg_conn_start(c);
        break;
    case CONN_CONNECTING:
        if (now >= c->connect_deadline)
            pg_conn_reset(c, PG_ERR_CONN, "connect timed out");
        break;
    case CONN_READY:
        /* PQcancel would block the loop: a late call costs its connection instead */
        for (struct pg_call *call = c->inflight.head; call != NULL; call = call->next) {
            if (call->deadline <= now) {
                pg_conn_reset(c, PG_ERR_CONN, "connection reset: a call before this one timed out");
                break;
            }
        }
        break;
    case CONN_CLOSING:
        break;
    }
}
