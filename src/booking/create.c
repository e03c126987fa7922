/*
 * POST /api/v1/appointments {slot, procedure, captcha[, office]} and
 * POST /api/v1/appointments/{code}/reschedule {slot[, office]}: one state machine, one function per step.
 *
 *   SESSION → [OLD: the appointment being rescheduled] → RATE → CAPTCHA (new bookings only) → SLOT (which
 *   office) → PROBE (the reserve script taking nothing: refusals and sold out end here, before the account
 *   is looked up, so losing attempts never reach PostgreSQL) → ACCOUNT (document, email: Redis cache,
 *   PostgreSQL on a miss) → RESERVE (Lua) → INFO (names) → PERSIST (one transaction) → CONFIRM (Lua) → 201
 *   any failure after RESERVE → RELEASE (Lua) → the answer (or back to RESERVE for a seat PostgreSQL says
 *   is taken, or a code collision)
 *
 * The state lives in one struct from server_async_alloc(). Nothing is released while a backend call is
 * pending, so callbacks never need detaching; once a seat is reserved the machine runs to its end even if
 * the client has gone (only the answer is skipped). "office" in the body is optional: without it the slot's
 * office comes from a per-worker cache (cache.c).
 */
#include "internal.h"

#include "citas/auth.h"
#include "citas/guard.h"
#include "citas/mail.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRIES 3

struct attempt {
    struct bk_worker *bw;
    int reschedule, office_given, tries, stale_checked;
    char stale_code[BOOKING_CODE_LEN + 1];
    struct bk_account acct;
    struct bk_attempt_keys k;
    char procedure[BK_PROC_MAX + 1];
    char *captcha;
    char ip[64];
    char old_code[BOOKING_CODE_LEN + 1];
    char old_office[BK_OFFICE_MAX + 1];
    int64_t start;
    char local[20];
    struct bk_info info;
    /* the answer to give once the seat is settled */
    int fail_status, retry;
    const char *fail_title;
    char fail_detail[200];
};

static void step_account(struct attempt *a);
static void step_old(struct attempt *a);
static void step_rate(struct attempt *a);
static void step_captcha(struct attempt *a);
static void step_slot(struct attempt *a);
static void step_probe(struct attempt *a);
static void check_stale(struct attempt *a, const char *code);
static void step_reserve(struct attempt *a);
static void step_info(struct attempt *a);
static void step_persist(struct attempt *a);
static void step_confirm(struct attempt *a);
static void step_release(struct attempt *a, int give_back);

static void done(struct attempt *a)
{
    free(a->captcha);
    server_async_release(a);
}

/* Answers (when the client is still there) and ends the attempt. No seat may be held at this point. */
static void answer(struct attempt *a, int status, const char *title, const char *detail)
{
    atomic_fetch_add(title == NULL || status >= 500 ? &bk_counters.failed : &bk_counters.refused, 1);
    h2o_req_t *req = server_async_req(a);
    if (req != NULL) {
        if (title == NULL) {
            bk_unavailable(req, detail); /* detail names what is unavailable */
        } else {
            if (status == 503)
                server_add_header(req, "retry-after", "5");
            server_send_problem(req, status, title, detail);
        }
    }
    done(a);
}

/* A failure after the seat was reserved: give it back (or drop it), then answer or retry. */
static void fail_reserved(struct attempt *a, int status, const char *title, const char *detail, int give_back,
                          int retry)
{
    a->fail_status = status;
    a->fail_title = title;
    snprintf(a->fail_detail, sizeof(a->fail_detail), "%s", detail);
    a->retry = retry && a->tries < MAX_TRIES;
    step_release(a, give_back);
}

/* --- SESSION --- */

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct attempt *a = ctx;
    if (req == NULL || s == NULL) {
        done(a);
        return;
    }
    a->acct.id = s->account_id;
    if (a->reschedule)
        step_old(a);
    else
        step_rate(a);
}

static void step_session(struct attempt *a, h2o_req_t *req)
{
    auth_load_session(req, on_session, a);
}

/* --- OLD (reschedule): the citizen's active appointment --- */

static void on_old(const struct pg_reply *r, void *ctx)
{
    struct attempt *a = ctx;
    if (r->status != PG_OK) {
        answer(a, 503, NULL, "The appointment database");
        return;
    }
    const PGresult *res = r->results[0];
    if (PQntuples(res) != 1) {
        answer(a, 404, "Not found", "You have no active appointment with this code.");
        return;
    }
    const char *s = PQgetvalue(res, 0, 0);
    bk_parse_i64(s, strlen(s), &a->k.old_slot);
    a->k.old_seat = atoi(PQgetvalue(res, 0, 1));
    snprintf(a->old_office, sizeof(a->old_office), "%s", PQgetvalue(res, 0, 2));
    snprintf(a->procedure, sizeof(a->procedure), "%s", PQgetvalue(res, 0, 3));
    step_rate(a);
}

static void step_old(struct attempt *a)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, a->acct.id);
    const char *v[] = {a->old_code, id};
    if (pg_query(a->bw->pg,
                 "SELECT slot_id, seat, office_code, procedure_code FROM appointments "
                 "WHERE code = $1 AND account_id = $2 AND state = 'active'",
                 2, v, on_old, a) != 0)
        answer(a, 503, NULL, "The appointment database");
}

/* --- ACCOUNT --- */

static void on_account(int rc, void *ctx)
{
    struct attempt *a = ctx;
    if (server_async_req(a) == NULL) {
        done(a);
        return;
    }
    if (rc == -ENOENT) {
        answer(a, 403, "Forbidden", "This account has no identity document on file and cannot book.");
        return;
    }
    if (rc != 0) {
        answer(a, 503, NULL, "The account store");
        return;
    }
    bk_key_person(a->k.person_key, a->k.office, a->acct.doc_hash, a->procedure);
    step_reserve(a);
}

static void step_account(struct attempt *a)
{
    if (bk_account_load(a->bw, &a->acct, on_account, a) != 0)
        answer(a, 503, NULL, "The account store");
}

/* --- RATE and CAPTCHA (guard) --- */

static void on_rate(enum guard_verdict v, unsigned retry_after_s, void *ctx)
{
    struct attempt *a = ctx;
    h2o_req_t *req = server_async_req(a);
    if (req == NULL) {
        done(a);
        return;
    }
    if (v == GUARD_OK) {
        step_captcha(a);
    } else if (v == GUARD_RATE_LIMITED) {
        char ra[24], d[120];
        snprintf(ra, sizeof(ra), "%u", retry_after_s > 0 ? retry_after_s : 1);
        server_add_header(req, "retry-after", ra);
        snprintf(d, sizeof(d), "Too many booking attempts; try again in %s seconds.", ra);
        answer(a, 429, "Too many requests", d);
    } else {
        answer(a, 503, NULL, "Rate limiting");
    }
}

static void on_captcha(enum guard_verdict v, void *ctx)
{
    struct attempt *a = ctx;
    if (server_async_req(a) == NULL) {
        done(a);
        return;
    }
    switch (v) {
    case GUARD_OK:
        step_slot(a);
        return;
    case GUARD_CAPTCHA_MISSING:
        answer(a, 400, "Captcha required", "captcha: the hCaptcha response is missing.");
        return;
    case GUARD_CAPTCHA_INVALID:
        answer(a, 403, "Captcha rejected",
               "captcha: the hCaptcha response was not accepted; solve it again.");
        return;
    case GUARD_CAPTCHA_REUSED:
        answer(a, 403, "Captcha already used", "captcha: this hCaptcha response was already used.");
        return;
    default:
        answer(a, 503, NULL, "Captcha verification");
    }
}

static void step_rate(struct attempt *a)
{
    struct guard *g = guard_for_worker(a->bw->w);
    if (g != NULL) {
        char account[24];
        snprintf(account, sizeof(account), "%" PRId64, a->acct.id);
        /* the document is not known yet (ACCOUNT comes after the probe): ip and account buckets apply */
        struct guard_subject subj = {.ip = a->ip, .account = account, .document = NULL};
        if (guard_rate_check(g, "booking", &subj, on_rate, a) != 0)
            answer(a, 503, NULL, "Rate limiting");
        return;
    }
    step_captcha(a);
}

static void step_captcha(struct attempt *a)
{
    struct guard *g = guard_for_worker(a->bw->w);
    if (g != NULL && !a->reschedule) {
        if (guard_verify_captcha(g, "booking", a->captcha, a->ip, on_captcha, a) != 0)
            answer(a, 503, NULL, "Captcha verification");
        return;
    }
    step_slot(a);
}

/* --- SLOT: the office whose keys hold the slot --- */

static void on_slot(int rc, void *ctx)
{
    struct attempt *a = ctx;
    if (server_async_req(a) == NULL) {
        done(a);
        return;
    }
    if (rc == -ENOENT)
        answer(a, 404, "No such slot", "slot: there is no slot with this id.");
    else if (rc != 0)
        answer(a, 503, NULL, "The calendar");
    else
        step_slot(a);
}

static void step_slot(struct attempt *a)
{
    if (!a->office_given) {
        int rc = bk_slot_office(a->bw, a->k.slot, a->k.office, on_slot, a);
        if (rc == 0)
            return;
        if (rc < 0) {
            on_slot(rc, a);
            return;
        }
        a->office_given = 1;
    }
    if (a->reschedule && strcmp(a->k.office, a->old_office) != 0) {
        answer(a, 422, "Other office",
               "slot: a reschedule moves an appointment within its office; cancel and book anew instead.");
        return;
    }
    if (a->reschedule && a->k.slot == a->k.old_slot) {
        answer(a, 422, "Same slot", "slot: the appointment is already at this slot.");
        return;
    }
    step_probe(a);
}

/* --- PROBE and RESERVE: the Lua script --- */

static const char *elem(const redisReply *r, size_t i)
{
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : NULL;
}

static void sold_out(struct attempt *a, const redisReply *r)
{
    atomic_fetch_add(&bk_counters.sold_out, 1);
    h2o_req_t *req = server_async_req(a);
    if (req != NULL) {
        struct json_buf b;
        json_buf_init(&b, &req->pool);
        json_open_array(&b, NULL);
        for (size_t i = 1; i + 2 < r->elements; i += 3) {
            int64_t id = 0, start = 0;
            const char *ids = elem(r, i), *st = elem(r, i + 1), *local = elem(r, i + 2);
            if (ids == NULL || st == NULL || bk_parse_i64(ids, strlen(ids), &id) != 0 ||
                bk_parse_i64(st, strlen(st), &start) != 0)
                break;
            char iso[32];
            bk_iso_local(start, local, iso);
            json_open_object(&b, NULL);
            json_add_int(&b, "slot", id);
            json_add_strn(&b, "date", local, strlen(local) >= 10 ? 10 : strlen(local));
            json_add_str(&b, "start", iso);
            json_add_str(&b, "local", local);
            json_close_object(&b);
        }
        json_close_array(&b);
        bk_send_problem_extra(
            req, 409, "Sold out",
            "Every seat of this slot is taken. 'next' lists the next days that still have seats.", "next",
            b.base, b.len);
    }
    done(a);
}

static void refused(struct attempt *a, const redisReply *r, const char *what);
static void on_probed(struct redis_client *c, const redisReply *r, const char *err, void *ctx);

static void on_reserved(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    struct attempt *a = ctx;
    /* a transport failure may come after the script ran: that hold then expires and is reclaimed */
    if (err != NULL || r->type != REDIS_REPLY_ARRAY || elem(r, 0) == NULL) {
        answer(a, 503, NULL, "The seat store");
        return;
    }
    const char *what = elem(r, 0);
    if (strcmp(what, "ok") == 0) {
        const char *seat = elem(r, 1), *start = elem(r, 2), *local = elem(r, 3);
        if (seat == NULL || start == NULL || local == NULL ||
            bk_parse_i64(start, strlen(start), &a->start) != 0) {
            answer(a, 503, NULL, "The seat store");
            return;
        }
        a->k.seat = atoi(seat);
        snprintf(a->local, sizeof(a->local), "%s", local);
        step_info(a);
        return;
    }
    refused(a, r, what);
}

static void on_probed(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    struct attempt *a = ctx;
    if (err != NULL || r->type != REDIS_REPLY_ARRAY || elem(r, 0) == NULL) {
        answer(a, 503, NULL, "The seat store");
        return;
    }
    if (strcmp(elem(r, 0), "free") == 0) {
        if (server_async_req(a) == NULL)
            done(a);
        else
            step_account(a);
        return;
    }
    refused(a, r, elem(r, 0));
}

/* Every answer of the script but "ok" and "free". */
static void refused(struct attempt *a, const redisReply *r, const char *what)
{
    if (strcmp(what, "sold_out") == 0) {
        sold_out(a, r);
    } else if (strcmp(what, "no_slot") == 0) {
        answer(a, 404, "No such slot", "slot: there is no slot with this id in this office.");
    } else if (strcmp(what, "wrong_procedure") == 0) {
        answer(a, 422, "Wrong procedure", "procedure: this slot is for another procedure.");
    } else if (strcmp(what, "closed") == 0) {
        answer(a, 409, "Closed", "This slot's calendar window is closed: it takes no new bookings.");
    } else if (strcmp(what, "past") == 0) {
        answer(a, 409, "Slot has started", "This slot's time has already come; choose a later one.");
    } else if (strcmp(what, "not_released") == 0) {
        int64_t ms = 0;
        const char *rel = elem(r, 1);
        char iso[24] = "", d[160];
        if (rel != NULL && bk_parse_i64(rel, strlen(rel), &ms) == 0)
            bk_iso_utc(ms / 1000, iso);
        snprintf(d, sizeof(d), "Booking for this slot opens at %s.", iso);
        answer(a, 409, "Not open yet", d);
    } else if (strcmp(what, "already") == 0) {
        const char *v = elem(r, 1);
        if (v != NULL && booking_code_valid(v, strlen(v)) && !a->stale_checked)
            check_stale(a, v); /* the key names a booking: is it still active? */
        else
            answer(a, 409, "Already booked",
                   "You already hold an appointment (or a booking in progress) for this procedure.");
    } else {
        answer(a, 503, NULL, "The seat store");
    }
}

/*
 * A person key naming an appointment that PostgreSQL no longer has active (checked in, no-show, cancelled
 * by staff or a day cancel, a cancel whose Redis step failed) is stale: delete it (only if it still names
 * that code) and reserve again. Only people who did hold a booking ever get here.
 */
static void on_stale_deleted(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    (void)r;
    struct attempt *a = ctx;
    if (err != NULL)
        answer(a, 503, NULL, "The seat store");
    else
        step_reserve(a);
}

static void on_stale_checked(const struct pg_reply *r, void *ctx)
{
    struct attempt *a = ctx;
    if (r->status != PG_OK) {
        answer(a, 503, NULL, "The appointment database");
    } else if (PQntuples(r->results[0]) > 0) {
        answer(a, 409, "Already booked", "You already hold an appointment for this procedure.");
    } else if (bk_run_cancel(a->bw, a->k.office, a->k.slot, 0, a->k.person_key, a->stale_code,
                             on_stale_deleted, a) != 0) {
        answer(a, 503, NULL, "The seat store");
    }
}

static void check_stale(struct attempt *a, const char *code)
{
    a->stale_checked = 1;
    snprintf(a->stale_code, sizeof(a->stale_code), "%s", code);
    const char *v[] = {a->stale_code};
    if (pg_query(a->bw->pg, "SELECT 1 FROM appointments WHERE code = $1 AND state = 'active'", 1, v,
                 on_stale_checked, a) != 0)
        answer(a, 503, NULL, "The appointment database");
}

static int run_reserve(struct attempt *a, int probe, redis_reply_cb cb)
{
    char slotk[BK_KEY_MAX], freek[BK_KEY_MAX], holds[BK_KEY_MAX], proc[BK_KEY_MAX], id[24], ttl[24], next[8];
    bk_key_slot(slotk, a->k.office, a->k.slot);
    bk_key_free(freek, a->k.office, a->k.slot);
    bk_key_holds(holds, a->k.office);
    bk_key_proc(proc, a->k.office, a->procedure);
    snprintf(id, sizeof(id), "%" PRId64, a->k.slot);
    snprintf(ttl, sizeof(ttl), "%" PRIu64, a->bw->hold_ttl_ms);
    snprintf(next, sizeof(next), "%" PRIu64, a->bw->next_dates);
    /* a probe has no person key yet: KEYS[4] is then another key of the office (hash slot routing) */
    const char *argv[] = {slotk,
                          freek,
                          holds,
                          probe ? holds : a->k.person_key,
                          proc,
                          id,
                          a->procedure,
                          ttl,
                          a->reschedule ? a->old_code : "",
                          next,
                          probe ? "probe" : ""};
    return redis_evalsha(a->bw->redis, a->bw->reserve, 5, 11, argv, NULL, cb, a);
}

static void step_probe(struct attempt *a)
{
    if (run_reserve(a, 1, on_probed) != 0)
        answer(a, 503, NULL, "The seat store");
}

static void step_reserve(struct attempt *a)
{
    a->tries++;
    if (run_reserve(a, 0, on_reserved) != 0)
        answer(a, 503, NULL, "The seat store");
}

/* --- INFO: names for the answer and the email --- */

static void on_info(int rc, void *ctx)
{
    struct attempt *a = ctx;
    if (rc != 0)
        fail_reserved(a, 503, NULL, "The reference data", 1, 0);
    else
        step_persist(a);
}

static void step_info(struct attempt *a)
{
    int rc = bk_info_get(a->bw, a->k.office, a->procedure, &a->info, on_info, a);
    if (rc == 1)
        step_persist(a);
    else if (rc < 0)
        on_info(rc, a);
}

/* --- PERSIST: appointment + booking_events + confirmation mail, one transaction --- */

static void when_text(const struct attempt *a, char *out, size_t cap)
{
    snprintf(out, cap, "%.10s %.5s (%s)", a->local, strlen(a->local) >= 16 ? a->local + 11 : "",
             a->info.time_zone);
}

static int add_mail(struct attempt *a, struct pg_tx *tx)
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
    int rc = mail_tx_add(tx, &m);
    h2o_mem_clear_pool(&pool);
    /* -EINVAL (an address the mailer refuses) leaves the tx unchanged: the booking stands without mail */
    return rc == -EINVAL ? 0 : rc;
}

static void on_persisted(const struct pg_reply *r, void *ctx)
{
    struct attempt *a = ctx;
    if (r->status == PG_OK) {
        if (PQntuples(r->results[0]) != 1) /* reschedule: the old appointment was no longer active */
            fail_reserved(a, 409, "Not active", "This appointment is no longer active.", 1, 0);
        else
            step_confirm(a);
        return;
    }
    if (r->status == PG_ERR_QUERY) {
        const PGresult *res = r->failed >= 0 && r->failed < r->nresults ? r->results[r->failed] : NULL;
        const char *cons = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
        if (strcmp(r->sqlstate, "23505") == 0 && cons != NULL &&
            strcmp(cons, "appointments_seat_taken") == 0) {
            /* Redis offered a seat PostgreSQL has: drop it from Redis and take another */
            fail_reserved(a, 503, NULL, "The seat store", 0, 1);
        } else if (strcmp(r->sqlstate, "23505") == 0 && cons != NULL &&
                   strcmp(cons, "appointments_code_key") == 0) {
            fail_reserved(a, 503, NULL, "The appointment database", 1, 1);
        } else if (strcmp(r->sqlstate, "23505") == 0 && cons != NULL &&
                   strcmp(cons, "appointments_one_per_person") == 0) {
            fail_reserved(
                a, 409, "Already booked",
                "You already hold an active appointment for this procedure (perhaps at another office).", 1,
                0);
        } else if (strcmp(r->sqlstate, "23514") == 0 && cons != NULL &&
                   strcmp(cons, "appointments_slot_open") == 0) {
            fail_reserved(a, 409, "Closed",
                          "This slot no longer takes bookings: its day was cancelled or its window closed.",
                          1, 0);
        } else if (strncmp(r->sqlstate, "23", 2) == 0) {
            fail_reserved(a, 409, "Conflict",
                          "The booking conflicts with the current data; reload and retry.", 1, 0);
        } else {
            fail_reserved(a, 503, NULL, "The appointment database", 1, 0);
        }
        return;
    }
    /* PG_ERR_CONN, PG_ERR_TIMEOUT, PG_ERR_SHUTDOWN: the commit may have happened. Do not give the seat back
     * blindly: leave the hold (it expires on its own) and let reconciliation ask PostgreSQL later. */
    bk_reconcile_start(a->bw, &a->k);
    answer(a, 503, "Not confirmed",
           "The booking could not be confirmed in time. It may still go through: look at your appointments "
           "in a minute before trying again.");
}

static void step_persist(struct attempt *a)
{
    if (booking_code_new(a->k.code) != 0) {
        fail_reserved(a, 503, NULL, "The code generator", 1, 0);
        return;
    }
    struct pg_tx *tx = pg_tx_begin(a->bw->pg);
    if (tx == NULL) {
        fail_reserved(a, 503, NULL, "The appointment database", 1, 0);
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
    if (a->acct.email[0] != '\0' && add_mail(a, tx) != 0) {
        pg_tx_abort(tx);
        fail_reserved(a, 503, NULL, "The mail outbox", 1, 0);
        return;
    }
    if (pg_tx_commit(tx, on_persisted, a) != 0)
        fail_reserved(a, 503, NULL, "The appointment database", 1, 0);
}

/* --- CONFIRM --- */

static void on_confirmed(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    (void)r;
    struct attempt *a = ctx;
    /* The booking is durable: it stands. If Redis missed the confirm, reconciliation repeats it. */
    if (err != NULL)
        bk_reconcile_start(a->bw, &a->k);
    h2o_req_t *req = server_async_req(a);
    if (req != NULL) {
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
    atomic_fetch_add(a->reschedule ? &bk_counters.rescheduled : &bk_counters.booked, 1);
    done(a);
}

static void step_confirm(struct attempt *a)
{
    if (bk_run_confirm(a->bw, &a->k, on_confirmed, a) != 0) {
        bk_reconcile_start(a->bw, &a->k);
        on_confirmed(NULL, NULL, NULL, a);
    }
}

/* --- RELEASE --- */

static void on_released(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    (void)r;
    (void)err; /* a release that did not happen leaves the hold to expire: the seat comes back then */
    struct attempt *a = ctx;
    if (a->retry && server_async_req(a) != NULL) {
        a->retry = 0;
        a->k.seat = 0;
        a->k.code[0] = '\0';
        step_reserve(a);
        return;
    }
    answer(a, a->fail_status, a->fail_title, a->fail_detail);
}

static void step_release(struct attempt *a, int give_back)
{
    if (give_back)
        atomic_fetch_add(&bk_counters.released, 1);
    if (bk_run_release(a->bw, &a->k, give_back, on_released, a) != 0)
        answer(a, a->fail_status, a->fail_title, a->fail_detail);
}

/* --- the handlers: parse, then SESSION --- */

static int parse_slot(h2o_req_t *req, const struct json_value *body, int64_t *slot)
{
    const struct json_value *v = json_get(body, "slot");
    if (v != NULL && v->type == JSON_NUMBER && v->number >= 1 && v->number <= 9007199254740991.0 &&
        v->number == (double)(int64_t)v->number) {
        *slot = (int64_t)v->number;
        return 0;
    }
    if (v != NULL && v->type == JSON_STRING && bk_parse_i64(v->str, v->len, slot) == 0 && *slot > 0)
        return 0;
    server_send_problem(req, 400, "Bad request", "slot: a positive integer slot id is required.");
    return -1;
}

static int parse_common(h2o_req_t *req, const struct json_value *body, struct attempt *tmp,
                        const char *const *allowed)
{
    for (size_t i = 0; i < body->len; i++) {
        int ok = 0;
        for (const char *const *k = allowed; *k != NULL; k++)
            ok |= strcmp(body->keys[i], *k) == 0;
        if (!ok) {
            char d[120];
            snprintf(d, sizeof(d), "%.60s: unknown field.", body->keys[i]);
            server_send_problem(req, 400, "Bad request", d);
            return -1;
        }
    }
    if (parse_slot(req, body, &tmp->k.slot) != 0)
        return -1;
    size_t len = 0;
    const struct json_value *o = json_get(body, "office");
    if (o != NULL) {
        const char *s = json_get_str(body, "office", &len);
        if (s == NULL || !bk_office_valid(s, len)) {
            server_send_problem(req, 400, "Bad request", "office: an office code is expected.");
            return -1;
        }
        snprintf(tmp->k.office, sizeof(tmp->k.office), "%s", s);
        tmp->office_given = 1;
    }
    return 0;
}

static struct attempt *start(h2o_req_t *req, const struct attempt *tmp)
{
    struct bk_worker *bw = bk_worker_of(req);
    if (bw == NULL) {
        bk_unavailable(req, "Booking");
        return NULL;
    }
    struct attempt *a = server_async_alloc(req, sizeof(*a));
    *a = *tmp;
    a->bw = bw;
    server_client_ip(req, a->ip);
    return a;
}

void booking_on_create(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return;
    static const char *const allowed[] = {"slot",   "procedure", "captcha", "h-captcha-response",
                                          "office", NULL};
    struct attempt tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (parse_common(req, body, &tmp, allowed) != 0)
        return;
    size_t len = 0;
    const char *proc = json_get_str(body, "procedure", &len);
    if (proc == NULL || !bk_procedure_valid(proc, len)) {
        server_send_problem(req, 400, "Bad request", "procedure: a procedure code is required.");
        return;
    }
    snprintf(tmp.procedure, sizeof(tmp.procedure), "%s", proc);
    const char *cap = json_get_str(body, "captcha", &len);
    if (cap == NULL)
        cap = json_get_str(body, "h-captcha-response", &len);
    if ((json_get(body, "captcha") != NULL || json_get(body, "h-captcha-response") != NULL) &&
        (cap == NULL || len > 16384)) {
        server_send_problem(req, 400, "Bad request",
                            "captcha: a string (the hCaptcha response) is expected.");
        return;
    }
    struct attempt *a = start(req, &tmp);
    if (a == NULL)
        return;
    if (cap != NULL && (a->captcha = strdup(cap)) == NULL)
        h2o_fatal("out of memory");
    step_session(a, req);
}

void booking_on_reschedule(h2o_req_t *req, const struct server_params *p)
{
    if (p->n < 1 || !booking_code_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no appointment with this code.");
        return;
    }
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return;
    static const char *const allowed[] = {"slot", "office", NULL};
    struct attempt tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (parse_common(req, body, &tmp, allowed) != 0)
        return;
    tmp.reschedule = 1;
    memcpy(tmp.old_code, p->v[0].base, BOOKING_CODE_LEN);
    struct attempt *a = start(req, &tmp);
    if (a != NULL)
        step_session(a, req);
}
