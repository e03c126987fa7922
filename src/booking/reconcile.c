/*
 * Reconciliation of an attempt whose commit is uncertain (PostgreSQL timed out or dropped the connection
 * after the transaction was sent), or whose Redis confirm failed. The hold is left alone; after
 * booking_reconcile_delay_ms PostgreSQL is asked whether the appointment exists:
 *   - it does (active or checked in): run the confirm script (hold → booking; the seat leaves the free set
 *     again if it had been reclaimed meanwhile; a reschedule's old seat goes back);
 *   - it does not: run the release script (the seat goes back only if this attempt's hold is still there
 *     or expired unreclaimed).
 * PostgreSQL still unreachable: ask again later, up to 30 times. If citasd stops or dies first, the hold
 * expires and is reclaimed; a seat that PostgreSQL does hold is then refused by the UNIQUE(slot_id, seat)
 * index to the next booker, whose attempt drops it from Redis (create.c), and the start-up rebuild
 * recomputes everything from PostgreSQL anyway.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 30

struct bk_reconcile {
    struct bk_reconcile *next;
    struct bk_worker *bw;
    struct bk_attempt_keys k;
    struct ring_op timer;
    int timer_armed, busy, rounds;
};

static void unlink_free(struct bk_reconcile *rc)
{
    struct bk_reconcile **pp = &rc->bw->reconciles;
    while (*pp != NULL && *pp != rc)
        pp = &(*pp)->next;
    if (*pp == rc)
        *pp = rc->next;
    free(rc);
}

static void arm(struct bk_reconcile *rc);

static void on_settled(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    (void)reply;
    struct bk_reconcile *rc = ctx;
    rc->busy = 0;
    if (err != NULL && !rc->bw->stopping && rc->rounds < MAX_ROUNDS)
        arm(rc);
    else
        unlink_free(rc);
}

static void on_checked(const struct pg_reply *r, void *ctx)
{
    struct bk_reconcile *rc = ctx;
    rc->busy = 0;
    if (r->status != PG_OK) {
        if (rc->bw->stopping || rc->rounds >= MAX_ROUNDS)
            unlink_free(rc);
        else
            arm(rc);
        return;
    }
    int exists = PQntuples(r->results[0]) == 1;
    int ok = exists ? bk_run_confirm(rc->bw, &rc->k, on_settled, rc)
                    : bk_run_release(rc->bw, &rc->k, 1, on_settled, rc);
    if (ok == 0)
        rc->busy = 1;
    else if (rc->bw->stopping || rc->rounds >= MAX_ROUNDS)
        unlink_free(rc);
    else
        arm(rc);
}

static void on_timer(struct ring_op *op, int res)
{
    struct bk_reconcile *rc = op->data;
    rc->timer_armed = 0;
    if (res == -ECANCELED || rc->bw->stopping) {
        unlink_free(rc);
        return;
    }
    const char *v[] = {rc->k.code};
    if (pg_query(rc->bw->pg,
                 "SELECT 1 FROM appointments WHERE code = $1 AND state IN ('active', 'checked_in')", 1, v,
                 on_checked, rc) == 0)
        rc->busy = 1;
    else
        arm(rc);
}

static void arm(struct bk_reconcile *rc)
{
    rc->rounds++;
    rc->timer.cb = on_timer;
    rc->timer.data = rc;
    uint64_t delay = rc->bw->reconcile_delay_ms > 0 ? rc->bw->reconcile_delay_ms : 1;
    if (rc->rounds > 1)
        delay = delay < 1000 ? 1000 : delay;
    if (ring_timeout(rc->bw->ring, &rc->timer, delay) == 0)
        rc->timer_armed = 1;
    else
        unlink_free(rc); /* the hold expires on its own */
}

void bk_reconcile_start(struct bk_worker *bw, const struct bk_attempt_keys *k)
{
    if (bw->stopping)
        return;
    struct bk_reconcile *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return; /* the hold expires on its own */
    rc->bw = bw;
    rc->k = *k;
    rc->next = bw->reconciles;
    bw->reconciles = rc;
    arm(rc);
}

void bk_reconcile_stop_all(struct bk_worker *bw)
{
    for (struct bk_reconcile *rc = bw->reconciles; rc != NULL; rc = rc->next)
        if (rc->timer_armed)
            ring_cancel(bw->ring, &rc->timer);
}
