/*
 * POST /api/v1/appointments {slot, procedure, captcha[, office]} and
 * POST /api/v1/appointments/{code}/reschedule {slot[, office]}: one state machine, one function per step.
 *
 *   SESSION → [OLD: the appointment being rescheduled] → SLOT (which office) → RATE and PROBE, sent
 *   together with ACCOUNT's cache read (one round trip; the probe's reply is used once RATE's verdict has
 *   let the attempt through). PROBE is the reserve script taking nothing: refusals, not open yet and sold
 *   out end here, before the captcha is spent, so losing attempts never reach siteverify or PostgreSQL;
 *   when it finds a seat it also claims the captcha response (SET NX in the office's keys; given back if
 *   RATE refuses). → CAPTCHA (new bookings only: siteverify) started → RESERVE (Lua) once the account is
 *   known (PostgreSQL on a cache miss); a seat taken waits for the captcha's verdict (given back, and the
 *   refusal answered, if it fails; a refusal of ACCOUNT or RESERVE is answered at once and the verdict
 *   dropped) → INFO (names) → PERSIST (one transaction) → 201, with CONFIRM (Lua) sent beside the answer
 *   any failure after RESERVE → RELEASE (Lua) → the answer (or back to RESERVE for a seat PostgreSQL says
 *   is taken, or a code collision)
 *
 * The state lives in one struct from server_async_alloc(). Nothing is released while a backend call is
 * pending, so callbacks never need detaching, except the guard's: the captcha's, which runs beside
 * RESERVE, and RATE's, beside the PROBE; bk_att_done() cancels them when the attempt ends first (RATE's
 * verdict normally comes first, on the same connection); an attempt answered while ACCOUNT is out is
 * released by ACCOUNT's callback. Once a seat is reserved the machine runs to its end even if the client
 * has gone (only the answer is skipped). "office" in the body is optional: without it
 * the slot's office comes from a per-worker cache (cache.c).
 *
 * Files, by state: this one parses and runs SESSION, OLD, RATE, SLOT and CAPTCHA; create_reserve.c PROBE,
 * ACCOUNT, RESERVE and the script's refusals; create_persist.c INFO, PERSIST, CONFIRM and RELEASE. The
 * struct and the steps they hand over to are in create.h.
 * Penalties (booking_early_penalty_s, booking_captcha_penalty_s): a booking before the release or a refused
 * captcha benches the account on the booking route (guard_penalize()); RATE then answers 429. The refusal
 * (409 not open yet, 403 captcha rejected) is answered only once Redis has stored the penalty.
 * The release lottery (booking_release_lottery_ms, create_reserve.c): a probe that finds a seat in that span
 * after the slot's release waits once for a random moment of it, then probes again.
 */
#include "create.h"

#include "citas/auth.h"
#include "citas/guard.h"
#include "citas/mail.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void step_old(struct bk_attempt *a);
static void step_slot(struct bk_attempt *a);

void bk_att_done(struct bk_attempt *a)
{
    /* ended by ACCOUNT or RESERVE: the captcha's verdict is moot; by the PROBE: RATE's */
    if (a->captcha_state == BK_CAPTCHA_PENDING || a->rate_state == BK_RATE_PENDING) {
        guard_cancel(guard_for_worker(a->bw->w), a);
        a->captcha_state = BK_CAPTCHA_NONE;
        a->rate_state = BK_RATE_NONE;
    }
    if (bk_att_end_after_account(a)) /* its callback releases the attempt */
        return;
    free(a->captcha);
    server_async_release(a);
}

void bk_att_answer(struct bk_attempt *a, int status, const char *title, const char *detail)
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
    bk_att_done(a);
}

void bk_att_fail_reserved(struct bk_attempt *a, int status, const char *title, const char *detail,
                          int give_back, int retry)
{
    a->fail_status = status;
    a->fail_title = title;
    snprintf(a->fail_detail, sizeof(a->fail_detail), "%s", detail);
    a->retry = retry && a->tries < MAX_TRIES;
    bk_att_release(a, give_back);
}

static void on_penalized(enum guard_verdict v, void *ctx)
{
    (void)v; /* a penalty Redis could not store lets one attempt through; the refusal stands either way */
    struct bk_attempt *a = ctx;
    if (server_async_req(a) == NULL)
        bk_att_done(a);
    else
        bk_att_answer(a, a->fail_status, a->fail_title, a->fail_detail);
}

void bk_att_penalize(struct bk_attempt *a, uint64_t ms, int status, const char *title, const char *detail)
{
    struct guard *g = guard_for_worker(a->bw->w);
    char account[24];
    snprintf(account, sizeof(account), "%" PRId64, a->acct.id);
    a->fail_status = status;
    a->fail_title = title;
    snprintf(a->fail_detail, sizeof(a->fail_detail), "%s", detail);
    /* answered once the penalty is stored, so that the account's next attempt, on any worker, is benched */
    if (g == NULL || ms == 0 || guard_penalize(g, "booking", account, ms, on_penalized, a) != 0)
        bk_att_answer(a, status, title, detail);
}

/* --- SESSION --- */

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct bk_attempt *a = ctx;
    if (req == NULL || s == NULL) {
        bk_att_done(a);
        return;
    }
    a->acct.id = s->account_id;
    if (a->reschedule)
        step_old(a);
    else
        step_slot(a);
}

static void step_session(struct bk_attempt *a, h2o_req_t *req)
{
    auth_load_session(req, on_session, a);
}

/* --- OLD (reschedule): the citizen's active appointment --- */

static void on_old(const struct pg_reply *r, void *ctx)
{
    struct bk_attempt *a = ctx;
    if (r->status != PG_OK) {
        bk_att_answer(a, 503, NULL, "The appointment database");
        return;
    }
    const PGresult *res = r->results[0];
    if (PQntuples(res) != 1) {
        bk_att_answer(a, 404, "Not found", "You have no active appointment with this code.");
        return;
    }
    const char *s = PQgetvalue(res, 0, 0);
    bk_parse_i64(s, strlen(s), &a->k.old_slot);
    a->k.old_seat = atoi(PQgetvalue(res, 0, 1));
    snprintf(a->old_office, sizeof(a->old_office), "%s", PQgetvalue(res, 0, 2));
    snprintf(a->procedure, sizeof(a->procedure), "%s", PQgetvalue(res, 0, 3));
    step_slot(a);
}

static void step_old(struct bk_attempt *a)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, a->acct.id);
    const char *v[] = {a->old_code, id};
    if (pg_query(a->bw->pg,
                 "SELECT slot_id, seat, office_code, procedure_code FROM appointments "
                 "WHERE code = $1 AND account_id = $2 AND state = 'active'",
                 2, v, on_old, a) != 0)
        bk_att_answer(a, 503, NULL, "The appointment database");
}

/* --- RATE (sent beside the PROBE) and CAPTCHA (guard) --- */

/* RATE's refusal: 429 (or 503 when the limits could not be checked). */
static void answer_rate(struct bk_attempt *a)
{
    h2o_req_t *req = server_async_req(a);
    if (req == NULL) {
        bk_att_done(a);
    } else if (a->rate_verdict == GUARD_RATE_LIMITED) {
        char ra[24], d[120];
        snprintf(ra, sizeof(ra), "%u", a->retry_after_s > 0 ? a->retry_after_s : 1);
        server_add_header(req, "retry-after", ra);
        snprintf(d, sizeof(d), "Too many booking attempts; try again in %s seconds.", ra);
        bk_att_answer(a, 429, "Too many requests", d);
    } else {
        bk_att_answer(a, 503, NULL, "Rate limiting");
    }
}

static void on_unclaimed(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c, (void)r, (void)err; /* a claim not given back ends with its TTL */
    answer_rate(ctx);
}

int bk_att_rate_passed(struct bk_attempt *a)
{
    if (a->rate_state == BK_RATE_PENDING) { /* the probe answered first: it runs again after the verdict */
        a->probe_early = 1;
        return 0;
    }
    if (a->rate_state == BK_RATE_NONE || a->rate_verdict == GUARD_OK)
        return 1;
    /* the probe may have claimed the captcha response: the refusal goes once it is given back, so that a
     * retry with the same response finds it free */
    const char *argv[] = {a->claim_key, a->claim_token, a->captcha_passed ? a->pass_value : ""};
    if (a->claim_key[0] == '\0' ||
        redis_evalsha(a->bw->redis, a->bw->unclaim, 1, 3, argv, NULL, on_unclaimed, a) != 0)
        answer_rate(a);
    return 0;
}

static void on_rate(enum guard_verdict v, unsigned retry_after_s, void *ctx)
{
    struct bk_attempt *a = ctx;
    a->rate_state = BK_RATE_DONE;
    a->rate_verdict = v;
    a->retry_after_s = retry_after_s;
    if (!a->probe_early)
        return; /* the probe's reply, right behind on the same connection, sees the verdict */
    a->probe_early = 0;
    if (server_async_req(a) == NULL)
        bk_att_done(a);
    else if (bk_att_rate_passed(a))
        bk_att_probe(a);
}

/* RATE and PROBE leave together: one round trip; the probe's reply waits for RATE's verdict. */
static void step_rate_probe(struct bk_attempt *a)
{
    struct guard *g = guard_for_worker(a->bw->w);
    if (g != NULL) {
        char account[24];
        snprintf(account, sizeof(account), "%" PRId64, a->acct.id);
        /* the document is not known yet (ACCOUNT comes with the probe): ip and account buckets apply */
        struct guard_subject subj = {.ip = a->ip, .account = account, .document = NULL};
        unsigned retry_s;
        if (guard_rate_refused(g, "booking", &subj, &retry_s) == 1) { /* refused a moment ago: no probe */
            a->rate_state = BK_RATE_DONE;
            a->rate_verdict = GUARD_RATE_LIMITED;
            a->retry_after_s = retry_s;
            answer_rate(a);
            return;
        }
        if (guard_rate_check(g, "booking", &subj, on_rate, a) != 0) {
            bk_att_answer(a, 503, NULL, "Rate limiting");
            return;
        }
        a->rate_state = BK_RATE_PENDING;
    }
    bk_att_probe(a);
}

/* The answer to a captcha that did not pass; *penalty_ms > 0 when the account is benched first. */
static void captcha_refusal(const struct bk_attempt *a, int v, int *status, const char **title,
                            const char **detail, uint64_t *penalty_ms)
{
    *penalty_ms = 0;
    switch (v) {
    case GUARD_CAPTCHA_INVALID:
        *status = 403, *title = "Captcha rejected";
        *detail = "captcha: the hCaptcha response was not accepted; solve it again.";
        *penalty_ms = a->bw->captcha_penalty_s * 1000;
        return;
    case GUARD_CAPTCHA_MISSING:
        *status = 400, *title = "Captcha required", *detail = "captcha: the hCaptcha response is missing.";
        return;
    case GUARD_CAPTCHA_REUSED:
        *status = 403, *title = "Captcha already used";
        *detail = "captcha: this hCaptcha response was already used.";
        return;
    default:
        *status = 503, *title = NULL, *detail = "Captcha verification";
    }
}

void bk_att_captcha_refused(struct bk_attempt *a, int verdict)
{
    int status;
    const char *title, *detail;
    uint64_t penalty_ms;
    captcha_refusal(a, verdict, &status, &title, &detail, &penalty_ms);
    bk_att_penalize(a, penalty_ms, status, title, detail);
}

/* The seat is held and the captcha's verdict is known: INFO, or the seat back and the refusal. */
static void after_captcha(struct bk_attempt *a)
{
    bk_att_mark(a, BK_STAGE_CAPTCHA);
    if (a->captcha_state != BK_CAPTCHA_DONE || a->captcha_verdict == GUARD_OK) {
        bk_att_info(a);
        return;
    }
    int status;
    const char *title, *detail;
    captcha_refusal(a, a->captcha_verdict, &status, &title, &detail, &a->penalty_ms);
    bk_att_fail_reserved(a, status, title, detail, 1, 0);
}

void bk_att_reserved(struct bk_attempt *a)
{
    if (a->captcha_state == BK_CAPTCHA_PENDING)
        a->seat_waiting = 1; /* on_captcha goes on */
    else
        after_captcha(a);
}

static void on_captcha(enum guard_verdict v, void *ctx)
{
    struct bk_attempt *a = ctx;
    a->captcha_state = BK_CAPTCHA_DONE;
    a->captcha_verdict = v;
    if (a->seat_waiting) {
        a->seat_waiting = 0;
        after_captcha(a);
    }
    /* else ACCOUNT or RESERVE is still running: bk_att_reserved() (or their refusal) sees the verdict */
}

void bk_att_captcha(struct bk_attempt *a)
{
    bk_att_mark(a, BK_STAGE_PROBE);
    struct guard *g = guard_for_worker(a->bw->w);
    if (a->captcha_passed) { /* verified beforehand (POST /api/v1/captcha): the probe took the pass */
        a->captcha_state = BK_CAPTCHA_DONE;
        a->captcha_verdict = GUARD_OK;
    } else if (g != NULL && !a->reschedule) {
        /* siteverify takes tens of milliseconds: RESERVE (and ACCOUNT, if still out) runs meanwhile, and a
         * seat it takes waits for the verdict (given back if the captcha fails) */
        int rc = a->claim_key[0] != '\0' /* the probe has claimed the response */
                     ? guard_verify_claimed(g, "booking", a->captcha, a->ip, a->claim_key, on_captcha, a)
                     : guard_verify_captcha(g, "booking", a->captcha, a->ip, on_captcha, a);
        if (rc != 0) {
            bk_att_answer(a, 503, NULL, "Captcha verification");
            return;
        }
        a->captcha_state = BK_CAPTCHA_PENDING;
    }
    bk_att_account(a);
}

/* --- SLOT: the office whose keys hold the slot --- */

static void on_slot(int rc, void *ctx)
{
    struct bk_attempt *a = ctx;
    if (server_async_req(a) == NULL) {
        bk_att_done(a);
        return;
    }
    if (rc == -ENOENT)
        bk_att_answer(a, 404, "No such slot", "slot: there is no slot with this id.");
    else if (rc != 0)
        bk_att_answer(a, 503, NULL, "The calendar");
    else
        step_slot(a);
}

static void step_slot(struct bk_attempt *a)
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
        bk_att_answer(
            a, 422, "Other office",
            "slot: a reschedule moves an appointment within its office; cancel and book anew instead.");
        return;
    }
    if (a->reschedule && a->k.slot == a->k.old_slot) {
        bk_att_answer(a, 422, "Same slot", "slot: the appointment is already at this slot.");
        return;
    }
    bk_att_mark(a, BK_STAGE_SESSION);
    step_rate_probe(a);
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

static int parse_common(h2o_req_t *req, const struct json_value *body, struct bk_attempt *tmp,
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

static struct bk_attempt *start(h2o_req_t *req, const struct bk_attempt *tmp)
{
    struct bk_worker *bw = bk_worker_of(req);
    if (bw == NULL) {
        bk_unavailable(req, "Booking");
        return NULL;
    }
    struct bk_attempt *a = server_async_alloc(req, sizeof(*a));
    *a = *tmp;
    a->bw = bw;
    a->mark_us = 0;
    bk_att_mark(a, BK_STAGES);
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
    struct bk_attempt tmp;
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
    struct bk_attempt *a = start(req, &tmp);
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
    struct bk_attempt tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (parse_common(req, body, &tmp, allowed) != 0)
        return;
    tmp.reschedule = 1;
    memcpy(tmp.old_code, p->v[0].base, BOOKING_CODE_LEN);
    struct bk_attempt *a = start(req, &tmp);
    if (a != NULL)
        step_session(a, req);
}
