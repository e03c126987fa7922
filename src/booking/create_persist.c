/* The booking state machine (see create.c): INFO (names), PERSIST (appointment, booking event and
 * confirmation mail in one transaction; new bookings of one loop turn share one, see create_group.c),
 * CONFIRM (the hold becomes a booking) and RELEASE after a failure. */
#include "create.h"

#include "citas/mail.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void step_persist(struct bk_attempt *a);

/* --- INFO: names for the answer and the email --- */

static void on_info(int rc, void *ctx)
{
    struct bk_attempt *a = ctx;
    if (rc != 0)
        bk_att_fail_reserved(a, 503, NULL, "The reference data", 1, 0);
    else
        step_persist(a);
}

void bk_att_info(struct bk_attempt *a)
{
    int rc = bk_info_get(a->bw, a->k.office, a->procedure, &a->info, on_info, a);
    if (rc == 1)
        step_persist(a);
    else if (rc < 0)
        on_info(rc, a);
}

/* --- PERSIST: appointment + booking_events + confirmation mail, one transaction --- */

static void when_text(const struct bk_attempt *a, char *out, size_t cap)
{
    snprintf(out, cap, "%.10s %.5s (%s)", a->local, strlen(a->local) >= 16 ? a->local + 11 : "",
             a->info.time_zone);
}

int bk_att_add_mail(struct bk_attempt *a, struct pg_tx *tx, struct mail_batch *batch)
{
    int en = strcmp(a->acct.lang, "en") == 0;
    const char *office = en ? a->info.office_name_en : a->info.office_name_es;
    const char *proc = en ? a->info.proc_name_en : a->info.proc_name_es;
    char when[128], loc[480], desc[120];
    when_text(a, when, sizeof(when));
    snprintf(loc, sizeof(loc), "%s, %s", office, a->info.address);
    snprintf(desc, sizeof(desc), "%s: %s", en ? "Appointment code" : "Código de cita", a->k.code);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    size_t len = 0;
    char *ics = bk_ics(&pool, a->k.code, a->start, a->info.duration_min, proc, loc, desc, &len);
    char fname[40];
    snprintf(fname, sizeof(fname), "cita-%s.ics", a->k.code);
    struct mail_attachment att = {fname, "text/calendar; charset=UTF-8; method=PUBLISH", ics, len};
    struct mail_param params[] = {{"code", a->k.code}, {"office", office},           {"when", when},
                                  {"procedure", proc}, {"address", a->info.address}, {"name", a->acct.name}};
    struct mail_message m = {a->acct.email, en ? "en" : "es", MAIL_BOOKING_CONFIRMED, params, 6, &att};
    int rc = batch != NULL ? mail_batch_add(batch, &m) : mail_tx_add(tx, &m);
    h2o_mem_clear_pool(&pool);
    /* -EINVAL (an address the mailer refuses) leaves the tx unchanged: the booking stands without mail */
    return rc == -EINVAL ? 0 : rc;
}

static void step_persist(struct bk_attempt *a)
{
    if (a->reschedule)
        bk_att_persist_one(a);
    else
        bk_group_add(a);
}

void bk_att_persisted(struct bk_attempt *a, const struct pg_reply *r)
{
    if (r->status == PG_OK) {
        if (PQntuples(r->results[0]) != 1) /* reschedule: the old appointment was no longer active */
            bk_att_fail_reserved(a, 409, "Not active", "This appointment is no longer active.", 1, 0);
        else
            bk_att_confirm(a);
        return;
    }
    if (r->status == PG_ERR_QUERY) {
        const PGresult *res = r->failed >= 0 && r->failed < r->nresults ? r->results[r->failed] : NULL;
        const char *cons = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
        if (strcmp(r->sqlstate, "23505") == 0 && cons != NULL &&
            strcmp(cons, "appointments_seat_taken") == 0) {
            /* Redis offered a seat PostgreSQL has: drop it from Redis and take another */
            bk_att_fail_reserved(a, 503, NULL, "The seat store", 0, 1);
        } else if (strcmp(r->sqlstate, "23505") == 0 && cons != NULL &&
                   strcmp(cons, "appointments_code_key") == 0) {
            bk_att_fail_reserved(a, 503, NULL, "The appointment database", 1, 1);
        } else if (strcmp(r->sqlstate, "23505") == 0 && cons != NULL &&
                   strcmp(cons, "appointments_one_per_person") == 0) {
            bk_att_fail_reserved(
                a, 409, "Already booked",
                "You already hold an active appointment for this procedure (perhaps at another office).", 1,
                0);
        } else if (strcmp(r->sqlstate, "23514") == 0 && cons != NULL &&
                   strcmp(cons, "appointments_slot_open") == 0) {
            bk_att_fail_reserved(
                a, 409, "Closed",
                "This slot no longer takes bookings: its day was cancelled or its window closed.", 1, 0);
        } else if (strncmp(r->sqlstate, "23", 2) == 0) {
            bk_att_fail_reserved(a, 409, "Conflict",
                                 "The booking conflicts with the current data; reload and retry.", 1, 0);
        } else {
            bk_att_fail_reserved(a, 503, NULL, "The appointment database", 1, 0);
        }
        return;
    }
    /* PG_ERR_CONN, PG_ERR_TIMEOUT, PG_ERR_SHUTDOWN: the commit may have happened. Do not give the seat back
     * blindly: leave the hold (it expires on its own) and let reconciliation ask PostgreSQL later. */
    bk_reconcile_start(a->bw, &a->k);
    bk_att_answer(
        a, 503, "Not confirmed",
        "The booking could not be confirmed in time. It may still go through: look at your appointments "
        "in a minute before trying again.");
}

static void on_persisted(const struct pg_reply *r, void *ctx)
{
    bk_att_persisted(ctx, r);
}

void bk_att_persist_one(struct bk_attempt *a)
{
    if (booking_code_new(a->k.code) != 0) {
        bk_att_fail_reserved(a, 503, NULL, "The code generator", 1, 0);
        return;
    }
    struct pg_tx *tx = pg_tx_begin(a->bw->pg);
    if (tx == NULL) {
        bk_att_fail_reserved(a, 503, NULL, "The appointment database", 1, 0);
        return;
    }
    char slot[24], seat[16], acct[24];
    snprintf(slot, sizeof(slot), "%" PRId64, a->k.slot);
    snprintf(seat, sizeof(seat), "%d", a->k.seat);
    snprintf(acct, sizeof(acct), "%" PRId64, a->acct.id);
    const char *v[] = {
        a->k.code,          slot,       seat, a->k.office, a->procedure, acct, a->acct.doc_type,
        a->acct.doc_number, a->old_code};
    if (a->reschedule)
        pg_tx_add(
            tx,
            "WITH old AS (UPDATE appointments SET state = 'cancelled', cancelled_at = now(), "
            "cancel_reason = 'rescheduled' WHERE code = $9 AND account_id = $6::bigint AND state = 'active' "
            "RETURNING id) "
            "INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id, "
            "document_type, document_number, rescheduled_from) "
            "SELECT $1, $2::bigint, $3::int, $4, $5, $6::bigint, $7, $8, old.id FROM old RETURNING id",
            9, v);
    else
        pg_tx_add(tx,
                  "INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id, "
                  "document_type, document_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                  8, v);
    const char *ev[] = {a->k.code, a->ip[0] ? a->ip : NULL, a->reschedule ? "rescheduled" : "booked",
                        a->old_code};
    pg_tx_add(
        tx,
        "INSERT INTO booking_events (appointment_id, action, account_id, client_ip, detail) "
        "SELECT id, $3, account_id, $2::inet, jsonb_build_object('slot', slot_id, 'seat', seat, 'from', "
        "nullif($4, '')) FROM appointments WHERE code = $1",
        4, ev);
    if (a->acct.email[0] != '\0' && bk_att_add_mail(a, tx, NULL) != 0) {
        pg_tx_abort(tx);
        bk_att_fail_reserved(a, 503, NULL, "The mail outbox", 1, 0);
        return;
    }
    if (pg_tx_commit(tx, on_persisted, a) != 0)
        bk_att_fail_reserved(a, 503, NULL, "The appointment database", 1, 0);
}

/* --- CONFIRM --- */

/* The 201 (200 for a reschedule), when the client is still there. */
static void answer_booked(struct bk_attempt *a)
{
    h2o_req_t *req = server_async_req(a);
    if (req == NULL)
        return;
    int en = strcmp(a->acct.lang, "en") == 0;
    struct bk_view v = {.code = a->k.code,
                        .state = "active",
                        .office = a->k.office,
                        .office_name = en ? a->info.office_name_en : a->info.office_name_es,
                        .procedure = a->procedure,
                        .procedure_name = en ? a->info.proc_name_en : a->info.proc_name_es,
                        .local = a->local,
                        .time_zone = a->info.time_zone,
                        .address = a->info.address,
                        .slot = a->k.slot,
                        .start = a->start,
                        .seat = a->k.seat};
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    bk_json_appointment(&b, NULL, &v);
    char loc[64];
    snprintf(loc, sizeof(loc), "/api/v1/appointments/%s", a->k.code);
    server_add_header(req, "location", loc);
    server_send_json(req, a->reschedule ? 200 : 201, b.base, b.len);
}

static void on_confirmed(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    (void)r;
    struct bk_attempt *a = ctx;
    bk_att_mark(a, BK_STAGE_CONFIRM);
    if (err != NULL) /* the booking stands; reconciliation repeats the confirm */
        bk_reconcile_start(a->bw, &a->k);
    bk_att_done(a);
}

/*
 * The booking is committed, so it stands whatever Redis does next: the answer goes now, and the confirm
 * script (hold -> booking) beside it. A confirm that fails is repeated by reconciliation, as before; one
 * that runs after the citizen's next step (a cancel or reschedule of this appointment already answered)
 * leaves the seat that step freed alone (confirm.lua).
 */
void bk_att_confirm(struct bk_attempt *a)
{
    bk_att_mark(a, BK_STAGE_PERSIST);
    answer_booked(a);
    atomic_fetch_add(a->reschedule ? &bk_counters.rescheduled : &bk_counters.booked, 1);
    if (bk_run_confirm(a->bw, &a->k, on_confirmed, a) != 0) {
        bk_reconcile_start(a->bw, &a->k);
        bk_att_done(a);
    }
}

/* --- RELEASE --- */

static void on_released(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    (void)r;
    (void)err; /* a release that did not happen leaves the hold to expire: the seat comes back then */
    struct bk_attempt *a = ctx;
    if (a->retry && server_async_req(a) != NULL) {
        a->retry = 0;
        a->k.seat = 0;
        a->k.code[0] = '\0';
        bk_att_reserve(a);
        return;
    }
    if (a->penalty_ms > 0) /* a refused captcha: the seat is back, now the bench, then the 403 */
        bk_att_penalize(a, a->penalty_ms, a->fail_status, a->fail_title, a->fail_detail);
    else
        bk_att_answer(a, a->fail_status, a->fail_title, a->fail_detail);
}

void bk_att_release(struct bk_attempt *a, int give_back)
{
    if (give_back)
        atomic_fetch_add(&bk_counters.released, 1);
    if (bk_run_release(a->bw, &a->k, give_back, on_released, a) != 0)
        bk_att_answer(a, a->fail_status, a->fail_title, a->fail_detail);
}
