/* The booking state machine (see create.c): PROBE, ACCOUNT and RESERVE with the reserve script, and the
 * script's refusals (sold out with the next dates, not open yet, already booked with the stale-key check). */
#include "create.h"

#include "citas/calendar.h"
#include "citas/guard.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check_stale(struct bk_attempt *a, const char *code);

/* --- ACCOUNT: read from the Redis cache beside the first probe, used once the probe has found a seat
 * (an account not in the cache is read from PostgreSQL then: losing attempts never reach it) --- */

static void start_account(struct bk_attempt *a, int cache_only);

/* The account is known and the probe found a seat: RESERVE, or the account's refusal. */
static void account_known(struct bk_attempt *a)
{
    if (server_async_req(a) == NULL) {
        bk_att_done(a);
        return;
    }
    if (a->acct_rc == -EAGAIN) { /* not cached: PostgreSQL now */
        start_account(a, 0);
        if (a->acct_state == BK_ACCT_DONE)
            account_known(a);
        return;
    }
    if (a->acct_rc == -ENOENT) {
        bk_att_answer(a, 403, "Forbidden", "This account has no identity document on file and cannot book.");
        return;
    }
    if (a->acct_rc != 0) {
        bk_att_answer(a, 503, NULL, "The account store");
        return;
    }
    bk_key_person(a->k.person_key, a->k.office, a->acct.doc_hash, a->procedure);
    bk_att_reserve(a);
}

static void on_account(int rc, void *ctx)
{
    struct bk_attempt *a = ctx;
    a->acct_state = BK_ACCT_DONE;
    a->acct_rc = rc;
    if (a->ended) /* the attempt was answered while the account was out */
        bk_att_done(a);
    else if (a->acct_waiting)
        account_known(a);
    /* else the probe is still out: bk_att_account() goes on once it finds a seat */
}

static void start_account(struct bk_attempt *a, int cache_only)
{
    a->acct_state = BK_ACCT_PENDING;
    if (bk_account_load(a->bw, &a->acct, cache_only, on_account, a) != 0) {
        a->acct_state = BK_ACCT_DONE;
        a->acct_rc = -EIO;
    }
}

int bk_att_end_after_account(struct bk_attempt *a)
{
    if (a->acct_state != BK_ACCT_PENDING)
        return 0;
    a->ended = 1;
    return 1;
}

void bk_att_account(struct bk_attempt *a)
{
    if (a->acct_state == BK_ACCT_NONE)
        start_account(a, 0);
    a->acct_waiting = 1;
    if (a->acct_state == BK_ACCT_DONE)
        account_known(a);
}

/* --- PROBE and RESERVE: the Lua script --- */

static const char *elem(const redisReply *r, size_t i)
{
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : NULL;
}

static void add_next(struct json_buf *b, int64_t id, int64_t start, const char *local)
{
    char iso[32];
    bk_iso_local(start, local, iso);
    json_open_object(b, NULL);
    json_add_int(b, "slot", id);
    json_add_strn(b, "date", local, strlen(local) >= 10 ? 10 : strlen(local));
    json_add_str(b, "start", iso);
    json_add_str(b, "local", local);
    json_close_object(b);
}

static int run_reserve(struct bk_attempt *a, int probe, redis_reply_cb cb);
static void on_probed(struct redis_client *c, const redisReply *r, const char *err, void *ctx);

/* A probe leaves the next dates of a sold-out answer to the worker's availability cache when that holds an
 * answer at most NEXT_MEMORY_FRESH_MS old (the availability cache's default life); the sold-out answer
 * then suggests from it if it is at most NEXT_MEMORY_MAX_AGE_MS old, or asks the script after all. */
#define NEXT_MEMORY_FRESH_MS   250
#define NEXT_MEMORY_MAX_AGE_MS 1000

static void sold_out(struct bk_attempt *a, const redisReply *r)
{
    struct calendar_free_slot next[31];
    int nnext = -1;
    if (a->next_memory) {
        a->next_memory = 0;
        nnext = calendar_free_days(a->bw->w, a->k.office, a->procedure, a->k.slot,
                                   (unsigned)(a->bw->next_dates < 31 ? a->bw->next_dates : 31), arc4random(),
                                   NEXT_MEMORY_MAX_AGE_MS, next);
        if (nnext < 0) {
            if (run_reserve(a, 1, on_probed) != 0)
                bk_att_answer(a, 503, NULL, "The seat store");
            return;
        }
    }
    atomic_fetch_add(&bk_counters.sold_out, 1);
    h2o_req_t *req = server_async_req(a);
    if (req != NULL) {
        struct json_buf b;
        json_buf_init(&b, &req->pool);
        json_open_array(&b, NULL);
        for (int i = 0; i < nnext; i++)
            add_next(&b, next[i].id, next[i].start, next[i].local);
        for (size_t i = 1; nnext < 0 && i + 2 < r->elements; i += 3) {
            int64_t id = 0, start = 0;
            const char *ids = elem(r, i), *st = elem(r, i + 1), *local = elem(r, i + 2);
            if (ids == NULL || st == NULL || local == NULL || bk_parse_i64(ids, strlen(ids), &id) != 0 ||
                bk_parse_i64(st, strlen(st), &start) != 0)
                break;
            add_next(&b, id, start, local);
        }
        json_close_array(&b);
        bk_send_problem_extra(
            req, 409, "Sold out",
            "Every seat of this slot is taken. 'next' lists the next days that still have seats.", "next",
            b.base, b.len);
    }
    bk_att_done(a);
}

static void refused(struct bk_attempt *a, const redisReply *r, const char *what);
static void on_probed(struct redis_client *c, const redisReply *r, const char *err, void *ctx);

static void on_reserved(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    struct bk_attempt *a = ctx;
    /* a transport failure may come after the script ran: that hold then expires and is reclaimed */
    if (err != NULL || r->type != REDIS_REPLY_ARRAY || elem(r, 0) == NULL) {
        bk_att_answer(a, 503, NULL, "The seat store");
        return;
    }
    const char *what = elem(r, 0);
    if (strcmp(what, "ok") == 0) {
        const char *seat = elem(r, 1), *start = elem(r, 2), *local = elem(r, 3);
        if (seat == NULL || start == NULL || local == NULL ||
            bk_parse_i64(start, strlen(start), &a->start) != 0) {
            bk_att_answer(a, 503, NULL, "The seat store");
            return;
        }
        a->k.seat = atoi(seat);
        snprintf(a->local, sizeof(a->local), "%s", local);
        bk_att_mark(a, BK_STAGE_RESERVE);
        bk_att_reserved(a);
        return;
    }
    refused(a, r, what);
}

static void on_admitted(struct ring_op *op, int res)
{
    struct bk_attempt *a = op->data;
    bk_att_mark(a, BK_STAGE_LOTTERY);
    if (res == -ECANCELED) /* the worker stops */
        bk_att_answer(a, 503, NULL, "Booking");
    else if (server_async_req(a) == NULL)
        bk_att_done(a);
    else
        bk_att_probe(a);
}

/* The process's secret for the lottery's draws (random, made once; every worker uses the same). */
static uint64_t lottery_key(void)
{
    static _Atomic uint64_t key;
    uint64_t k = atomic_load(&key);
    if (k == 0) {
        uint64_t fresh = ((uint64_t)arc4random() << 32 | arc4random()) | 1;
        atomic_compare_exchange_strong(&key, &k, fresh);
        k = atomic_load(&key);
    }
    return k;
}

/* One draw per account and release: splitmix64 over (key, account, release). */
static uint64_t draw(int64_t account, int64_t release)
{
    uint64_t z = lottery_key() ^ ((uint64_t)account * 0x9e3779b97f4a7c15ull) ^ (uint64_t)release;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * The release lottery: people click within a second or two of the release, scripts at its first
 * millisecond. An attempt that finds a seat during the first booking_release_lottery_ms after the slot's
 * release waits (once) until the span is over plus its account's place in a short drain (an eighth of the
 * span), then probes again: everyone who came in the span is served after it, in the order of the draws, so
 * arriving at the first millisecond buys nothing. (Serving each at its own random moment of the span, as
 * before, let an early script take the early moments that a person arriving later had drawn.) The place
 * is one draw per account and release (a keyed hash, the same on every worker of the process), so retrying
 * within the span buys no second ticket. Returns 1 when the attempt now waits.
 */
static int lottery(struct bk_attempt *a, const redisReply *r)
{
    uint64_t span = a->bw->release_lottery_ms;
    int64_t rel = 0, now = 0;
    const char *rs = elem(r, 1), *ns = elem(r, 2);
    if (span == 0 || a->admitted || a->reschedule || rs == NULL || ns == NULL ||
        bk_parse_i64(rs, strlen(rs), &rel) != 0 || bk_parse_i64(ns, strlen(ns), &now) != 0 ||
        now >= rel + (int64_t)span)
        return 0;
    a->admitted = 1;
    int64_t at = rel + (int64_t)span + (int64_t)(draw(a->acct.id, rel) % (span / 8 + 1));
    a->wait = (struct ring_op){.cb = on_admitted, .data = a};
    bk_att_mark(a, BK_STAGE_PROBE);
    return ring_timeout(a->bw->ring, &a->wait, (uint64_t)(at - now)) == 0;
}

static void on_probed(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    struct bk_attempt *a = ctx;
    if (!bk_att_rate_passed(a))
        return;
    if (err != NULL || r->type != REDIS_REPLY_ARRAY || elem(r, 0) == NULL) {
        bk_att_answer(a, 503, NULL, "The seat store");
        return;
    }
    if (strcmp(elem(r, 0), "free") == 0) {
        const char *passed = elem(r, 3);
        if (passed != NULL && strcmp(passed, "1") == 0 && !a->captcha_passed) {
            a->captcha_passed = 1; /* kept through a later probe (the claim then holds our token) */
            atomic_fetch_add(&bk_counters.captcha_passes, 1);
        }
        if (server_async_req(a) == NULL)
            bk_att_done(a);
        else if (!lottery(a, r))
            bk_att_captcha(a);
        return;
    }
    refused(a, r, elem(r, 0));
}

/* Every answer of the script but "ok" and "free". */
static void refused(struct bk_attempt *a, const redisReply *r, const char *what)
{
    if (strcmp(what, "sold_out") == 0) {
        sold_out(a, r);
    } else if (strcmp(what, "captcha_reused") == 0) {
        bk_att_captcha_refused(a, GUARD_CAPTCHA_REUSED);
    } else if (strcmp(what, "captcha_refused") == 0) { /* refused by siteverify in POST /api/v1/captcha */
        bk_att_captcha_refused(a, GUARD_CAPTCHA_INVALID);
    } else if (strcmp(what, "no_slot") == 0) {
        bk_att_answer(a, 404, "No such slot", "slot: there is no slot with this id in this office.");
    } else if (strcmp(what, "wrong_procedure") == 0) {
        bk_att_answer(a, 422, "Wrong procedure", "procedure: this slot is for another procedure.");
    } else if (strcmp(what, "closed") == 0) {
        bk_att_answer(a, 409, "Closed", "This slot's calendar window is closed: it takes no new bookings.");
    } else if (strcmp(what, "past") == 0) {
        bk_att_answer(a, 409, "Slot has started", "This slot's time has already come; choose a later one.");
    } else if (strcmp(what, "not_released") == 0) {
        int64_t ms = 0;
        uint64_t penalty = 0;
        const char *rel = elem(r, 1);
        char iso[24] = "", d[160];
        if (rel != NULL && bk_parse_i64(rel, strlen(rel), &ms) == 0) {
            bk_iso_utc(ms / 1000, iso);
            /* people wait for the release; scripts that fire early sit out its first moments */
            if (a->bw->early_penalty_s > 0 && !a->reschedule) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
                penalty = (uint64_t)(ms > now ? ms - now : 0) + a->bw->early_penalty_s * 1000;
            }
        }
        snprintf(d, sizeof(d), "Booking for this slot opens at %s.", iso);
        bk_att_penalize(a, penalty, 409, "Not open yet", d);
    } else if (strcmp(what, "already") == 0) {
        const char *v = elem(r, 1);
        if (v != NULL && booking_code_valid(v, strlen(v)) && !a->stale_checked)
            check_stale(a, v); /* the key names a booking: is it still active? */
        else
            bk_att_answer(a, 409, "Already booked",
                          "You already hold an appointment (or a booking in progress) for this procedure.");
    } else {
        bk_att_answer(a, 503, NULL, "The seat store");
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
    struct bk_attempt *a = ctx;
    if (err != NULL)
        bk_att_answer(a, 503, NULL, "The seat store");
    else
        bk_att_reserve(a);
}

static void on_stale_checked(const struct pg_reply *r, void *ctx)
{
    struct bk_attempt *a = ctx;
    if (r->status != PG_OK) {
        bk_att_answer(a, 503, NULL, "The appointment database");
    } else if (PQntuples(r->results[0]) > 0) {
        bk_att_answer(a, 409, "Already booked", "You already hold an appointment for this procedure.");
    } else if (bk_run_cancel(a->bw, a->k.office, a->k.slot, 0, a->k.person_key, a->stale_code,
                             on_stale_deleted, a) != 0) {
        bk_att_answer(a, 503, NULL, "The seat store");
    }
}

static void check_stale(struct bk_attempt *a, const char *code)
{
    a->stale_checked = 1;
    snprintf(a->stale_code, sizeof(a->stale_code), "%s", code);
    const char *v[] = {a->stale_code};
    if (pg_query(a->bw->pg, "SELECT 1 FROM appointments WHERE code = $1 AND state = 'active'", 1, v,
                 on_stale_checked, a) != 0)
        bk_att_answer(a, 503, NULL, "The appointment database");
}

static int run_reserve(struct bk_attempt *a, int probe, redis_reply_cb cb)
{
    char slotk[BK_KEY_MAX], freek[BK_KEY_MAX], holds[BK_KEY_MAX], proc[BK_KEY_MAX], id[24], ttl[24], next[8],
        spread[16], claim_ttl[16];
    bk_key_slot(slotk, a->k.office, a->k.slot);
    bk_key_free(freek, a->k.office, a->k.slot);
    bk_key_holds(holds, a->k.office);
    bk_key_proc(proc, a->k.office, a->procedure);
    snprintf(id, sizeof(id), "%" PRId64, a->k.slot);
    snprintf(ttl, sizeof(ttl), "%" PRIu64, a->bw->hold_ttl_ms);
    /* a probe's sold-out answer takes its next dates from the worker's availability cache when that is fresh
     * (every loser asked the script for them: about 40% of a sold-out probe's cost in Redis) */
    a->next_memory =
        probe && a->bw->next_dates > 0 &&
        calendar_free_days(a->bw->w, a->k.office, a->procedure, 0, 0, 0, NEXT_MEMORY_FRESH_MS, NULL) == 0;
    snprintf(next, sizeof(next), "%" PRIu64, a->next_memory ? 0 : a->bw->next_dates);
    snprintf(spread, sizeof(spread), "%u", (unsigned)arc4random_uniform(1u << 30));
    struct guard *g = probe && a->claim_key[0] != '\0' ? guard_for_worker(a->bw->w) : NULL;
    int claim = g != NULL;
    claim_ttl[0] = '\0';
    if (claim)
        snprintf(claim_ttl, sizeof(claim_ttl), "%u", guard_captcha_reuse_ttl_s(g));
    /* a probe has no person key: KEYS[4] is then the captcha's claim, or another key of the office (hash
     * slot routing) */
    const char *argv[] = {slotk,
                          freek,
                          holds,
                          probe ? (claim ? a->claim_key : holds) : a->k.person_key,
                          proc,
                          id,
                          a->procedure,
                          ttl,
                          a->reschedule ? a->old_code : "",
                          next,
                          probe ? "probe" : "",
                          spread,
                          claim ? a->claim_token : "",
                          claim_ttl,
                          claim ? a->pass_value : ""};
    return redis_evalsha(a->bw->redis, a->bw->reserve, 5, 15, argv, NULL, cb, a);
}

/* The probe claims the captcha response when it finds a seat (a new booking with a response to check). */
static void prepare_claim(struct bk_attempt *a)
{
    struct guard *g = guard_for_worker(a->bw->w);
    if (a->reschedule || g == NULL || !guard_needs_captcha(g, "booking") || a->captcha == NULL ||
        a->captcha[0] == '\0' || strlen(a->captcha) > GUARD_MAX_RESPONSE)
        return; /* guard_verify_captcha() answers these (no captcha needed, missing, invalid) */
    if (bk_key_captcha(a->claim_key, a->k.office, a->captcha) != 0) {
        a->claim_key[0] = '\0';
        return;
    }
    snprintf(a->claim_token, sizeof(a->claim_token), "%08x%08x", arc4random(), arc4random());
    bk_captcha_pass_value(a->pass_value, a->acct.id);
}

void bk_att_probe(struct bk_attempt *a)
{
    if (a->acct_state == BK_ACCT_NONE) { /* the first probe: the account is read beside it */
        prepare_claim(a);
        start_account(a, 1);
    }
    if (run_reserve(a, 1, on_probed) != 0)
        bk_att_answer(a, 503, NULL, "The seat store");
}

void bk_att_reserve(struct bk_attempt *a)
{
    a->tries++;
    if (run_reserve(a, 0, on_reserved) != 0)
        bk_att_answer(a, 503, NULL, "The seat store");
}
