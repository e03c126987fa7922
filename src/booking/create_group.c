/*
 * PERSIST for the new bookings of one loop turn: one transaction, one statement inserting the appointments
 * and their booking events (with their audit rows, by trigger), and one inserting their confirmation mails
 * (DESIGN §3).
 * Under a surge many reservations come back from Redis in the same turn; sharing one commit and one
 * statement among them costs PostgreSQL much less than a transaction each.
 *
 * A group of one runs the one-booking transaction of create_persist.c. When PostgreSQL refuses a group
 * (one booking's constraint fails the whole transaction, so nothing of it was committed), each of its
 * bookings runs alone, with a fresh code, and meets its own refusal there. When the outcome is unknown
 * (connection lost, timeout), each booking is treated as a one-booking transaction with that outcome:
 * reconciliation asks PostgreSQL later. Reschedules always run alone.
 *
 * booking_group_max bounds a group (1: every booking alone); booking_group_ms > 0 makes a group wait that
 * long for more bookings instead of closing at the end of the loop turn (for tests and operators who prefer
 * fewer commits to latency).
 */
#include "create.h"
#include "citas/mail.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bk_group {
    size_t n;
    struct bk_attempt *a[];
};

enum { COL_CODE, COL_SLOT, COL_SEAT, COL_OFFICE, COL_PROC, COL_ACCT, COL_DOCTYPE, COL_DOCNUM, COL_IP, NCOLS };

/* The events come from the rows the INSERT returns (no second look-up by code); the audit trigger and the
 * foreign key checks run at the end of the statement and see the appointments. */
static const char insert_sql[] =
    "WITH ins AS ("
    " INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id, document_type,"
    " document_number)"
    " SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[], $4::text[], $5::text[], $6::bigint[],"
    " $7::text[], $8::text[])"
    " RETURNING id, code, slot_id, seat, account_id), "
    "ev AS ("
    " INSERT INTO booking_events (appointment_id, action, account_id, client_ip, detail)"
    " SELECT ins.id, 'booked', ins.account_id, e.ip,"
    " jsonb_build_object('slot', ins.slot_id, 'seat', ins.seat, 'from', NULL::text)"
    " FROM unnest($1::text[], $9::inet[]) WITH ORDINALITY AS e(code, ip, n) JOIN ins ON ins.code = e.code"
    " ORDER BY e.n) "
    "SELECT code FROM ins";

static void one_by_one(struct bk_attempt **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bk_att_persist_one(a[i]);
}

static int returned(const PGresult *res, const char *code)
{
    for (int i = 0, rows = PQntuples(res); i < rows; i++)
        if (strcmp(PQgetvalue(res, i, 0), code) == 0)
            return 1;
    return 0;
}

static void on_group(const struct pg_reply *r, void *ctx)
{
    struct bk_group *g = ctx;
    if (r->status == PG_OK) {
        atomic_fetch_add(&bk_counters.group_commits, 1);
        atomic_fetch_add(&bk_counters.group_bookings, g->n);
        for (size_t i = 0; i < g->n; i++) {
            struct bk_attempt *a = g->a[i];
            if (r->nresults > 0 && returned(r->results[0], a->k.code))
                bk_att_confirm(a);
            else /* not in the committed rows (cannot happen with unnest): not booked, the seat goes back */
                bk_att_fail_reserved(a, 503, NULL, "The appointment database", 1, 0);
        }
    } else if (r->status == PG_ERR_QUERY) {
        atomic_fetch_add(&bk_counters.group_retried, 1);
        one_by_one(g->a, g->n);
    } else {
        for (size_t i = 0; i < g->n; i++)
            bk_att_persisted(g->a[i], r);
    }
    free(g);
}

/* Builds and commits the group; 0 when its callback will run, else nothing was sent. */
static int commit_group(struct bk_worker *bw, struct bk_group *g)
{
    struct pg_array col[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        pg_array_init(&col[c]);
    for (size_t i = 0; i < g->n; i++) {
        const struct bk_attempt *a = g->a[i];
        char slot[24], seat[16], acct[24];
        snprintf(slot, sizeof(slot), "%" PRId64, a->k.slot);
        snprintf(seat, sizeof(seat), "%d", a->k.seat);
        snprintf(acct, sizeof(acct), "%" PRId64, a->acct.id);
        pg_array_add(&col[COL_CODE], a->k.code);
        pg_array_add(&col[COL_SLOT], slot);
        pg_array_add(&col[COL_SEAT], seat);
        pg_array_add(&col[COL_OFFICE], a->k.office);
        pg_array_add(&col[COL_PROC], a->procedure);
        pg_array_add(&col[COL_ACCT], acct);
        pg_array_add(&col[COL_DOCTYPE], a->acct.doc_type);
        pg_array_add(&col[COL_DOCNUM], a->acct.doc_number);
        pg_array_add(&col[COL_IP], a->ip[0] ? a->ip : NULL);
    }
    const char *v[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        v[c] = pg_array_text(&col[c]);
    struct pg_tx *tx = pg_tx_begin(bw->pg);
    int rc = tx == NULL ? -1 : 0;
    /* a NULL array (out of memory) makes pg_tx_add() fail, and with it the commit */
    if (rc == 0)
        rc = pg_tx_add(tx, insert_sql, NCOLS, v) != 0 ? -1 : 0;
    /* the confirmation mails: one INSERT for the group */
    struct mail_batch mails;
    mail_batch_init(&mails);
    for (size_t i = 0; rc == 0 && i < g->n; i++)
        if (g->a[i]->acct.email[0] != '\0' && bk_att_add_mail(g->a[i], NULL, &mails) != 0)
            rc = -1;
    if (rc == 0 && mail_batch_tx_add(tx, &mails) != 0)
        rc = -1;
    mail_batch_free(&mails);
    if (rc == 0)
        rc = pg_tx_commit(tx, on_group, g); /* consumes the tx */
    else
        pg_tx_abort(tx);
    for (int c = 0; c < NCOLS; c++)
        pg_array_free(&col[c]);
    return rc;
}

void bk_group_flush(struct bk_worker *bw)
{
    struct bk_attempt *list = bw->group;
    size_t n = bw->ngroup;
    bw->group = NULL;
    bw->ngroup = 0;
    if (n == 0)
        return;
    if (n == 1) {
        bk_att_persist_one(list);
        return;
    }
    struct bk_group *g = malloc(sizeof(*g) + n * sizeof(g->a[0]));
    size_t k = 0;
    for (struct bk_attempt *a = list, *next; a != NULL; a = next) {
        next = a->group_next;
        a->group_next = NULL;
        if (g == NULL)
            bk_att_persist_one(a);
        else if (booking_code_new(a->k.code) != 0)
            bk_att_fail_reserved(a, 503, NULL, "The code generator", 1, 0);
        else
            g->a[k++] = a;
    }
    if (g == NULL)
        return;
    g->n = k;
    if (k < 2 || commit_group(bw, g) != 0) {
        one_by_one(g->a, k); /* (fresh codes there) */
        free(g);
    }
}

static void on_turn_end(struct ring_defer *d)
{
    bk_group_flush((struct bk_worker *)((char *)d - offsetof(struct bk_worker, group_defer)));
}

static void on_group_timer(struct ring_op *op, int res)
{
    (void)res; /* fired or cancelled at stop: either way the group goes now */
    struct bk_worker *bw = op->data;
    bw->group_timer_armed = 0;
    bk_group_flush(bw);
}

void bk_group_add(struct bk_attempt *a)
{
    struct bk_worker *bw = a->bw;
    if (bw->group_max <= 1 || bw->stopping) {
        bk_att_persist_one(a);
        return;
    }
    a->group_next = bw->group;
    bw->group = a;
    if (++bw->ngroup >= bw->group_max) {
        bk_group_flush(bw);
        return;
    }
    if (bw->ngroup > 1 || bw->group_timer_armed)
        return; /* already scheduled */
    if (bw->group_ms > 0) {
        bw->group_timer.cb = on_group_timer;
        bw->group_timer.data = bw;
        if (ring_timeout(bw->ring, &bw->group_timer, bw->group_ms) == 0) {
            bw->group_timer_armed = 1;
            return;
        }
    }
    bw->group_defer.cb = on_turn_end;
    ring_defer(bw->ring, &bw->group_defer);
}
