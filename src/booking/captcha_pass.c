/*
 * POST /api/v1/captcha {"office", "captcha"}: the bot challenge checked before the booking, not during it.
 *
 * A citizen's page sends the hCaptcha response as soon as the widget is solved (while the person still
 * picks a date, or waits for the release). citas claims the response in the office's keys (the same key a
 * booking's probe claims), asks siteverify, and leaves a pass there: the key then holds "v:<account>" for
 * booking_captcha_pass_s seconds. A booking attempt of that account, in that office, with the same response
 * finds the pass in its probe (reserve.lua), takes it, and skips siteverify: at the release the winners no
 * longer wait tens of milliseconds for hCaptcha while holding their place. A pass is the response's one
 * verification: it serves one booking (the probe that finds a seat takes it, as it would claim the
 * response), other accounts' attempts find the response used, and a sold-out answer leaves it for the
 * suggested date. Without a pass (none sent, expired) the booking verifies the response itself, as before.
 * A response siteverify refused leaves "x" (BK_CAPTCHA_REFUSED) in the key: a booking with it is refused
 * as a rejected captcha, not as a used one.
 *
 *   SESSION (CSRF) → RATE (the guard's "captcha" rules) → CLAIM (SET NX) → SITEVERIFY → PASS (SET) → 200
 *
 * Refusals: 400 (body), 401/403 (session), 429 (rate), 403 "Captcha rejected" (once the account is benched
 * on booking for booking_captcha_penalty_s, as after a booking with a refused captcha), 403 "Captcha
 * already used" (claimed by another attempt, or a pass of another account), 503 (siteverify or Redis).
 */
#include "internal.h"

#include "citas/auth.h"
#include "citas/guard.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pass_call {
    struct bk_worker *bw;
    int64_t account;
    char office[BK_OFFICE_MAX + 1];
    char *captcha;
    char ip[64];
    char key[BK_KEY_MAX];
    char value[BK_PASS_VALUE_MAX]; /* "v:<account>" */
    char token[24];                /* the claim's value while siteverify runs */
};

static void finish(struct pass_call *c)
{
    free(c->captcha);
    server_async_release(c);
}

static void answer(struct pass_call *c, int status, const char *title, const char *detail)
{
    h2o_req_t *req = server_async_req(c);
    if (req != NULL) {
        if (title == NULL) {
            bk_unavailable(req, detail);
        } else {
            if (status == 503)
                server_add_header(req, "retry-after", "5");
            server_send_problem(req, status, title, detail);
        }
    }
    finish(c);
}

static void answer_pass(struct pass_call *c)
{
    h2o_req_t *req = server_async_req(c);
    if (req != NULL) {
        struct json_buf b;
        json_buf_init(&b, &req->pool);
        json_open_object(&b, NULL);
        json_add_bool(&b, "verified", 1);
        json_add_str(&b, "office", c->office);
        json_add_int(&b, "expires_in", (long long)c->bw->captcha_pass_s);
        json_close_object(&b);
        server_send_json(req, 200, b.base, b.len);
    }
    finish(c);
}

/* --- PASS --- */

static void on_passed(struct redis_client *rc, const redisReply *r, const char *err, void *ctx)
{
    (void)rc;
    struct pass_call *c = ctx;
    if (err != NULL || r->type == REDIS_REPLY_ERROR) /* the response is spent; the booking cannot use it */
        answer(c, 503, NULL, "The seat store");
    else
        answer_pass(c);
}

static void on_penalized(enum guard_verdict v, void *ctx)
{
    (void)v; /* the refusal stands whether or not the bench was stored */
    answer(ctx, 403, "Captcha rejected", "captcha: the hCaptcha response was not accepted; solve it again.");
}

/* The claim now says "refused" (a booking with the response is told so, not "used"): bench, then answer. */
static void on_marked_refused(struct redis_client *rc, const redisReply *r, const char *err, void *ctx)
{
    (void)rc, (void)r, (void)err; /* unmarked, a booking with it hears "already used": refused all the same */
    struct pass_call *c = ctx;
    struct guard *g = guard_for_worker(c->bw->w);
    char account[24];
    snprintf(account, sizeof(account), "%" PRId64, c->account);
    uint64_t ms = c->bw->captcha_penalty_s * 1000;
    if (g == NULL || ms == 0 || guard_penalize(g, "booking", account, ms, on_penalized, c) != 0)
        on_penalized(GUARD_OK, c);
}

/* --- SITEVERIFY --- */

static void on_verified(enum guard_verdict v, void *ctx)
{
    struct pass_call *c = ctx;
    if (v == GUARD_OK) {
        char ttl[24];
        snprintf(ttl, sizeof(ttl), "%" PRIu64, c->bw->captcha_pass_s);
        const char *argv[] = {"SET", c->key, c->value, "EX", ttl};
        if (redis_command(c->bw->redis, on_passed, c, 5, argv, NULL) != 0)
            answer(c, 503, NULL, "The seat store");
        return;
    }
    if (v == GUARD_CAPTCHA_INVALID) {
        const char *argv[] = {"SET", c->key, BK_CAPTCHA_REFUSED, "KEEPTTL"};
        if (redis_command(c->bw->redis, on_marked_refused, c, 4, argv, NULL) != 0)
            on_marked_refused(NULL, NULL, "not sent", c);
        return;
    }
    if (v == GUARD_CAPTCHA_REUSED)
        answer(c, 403, "Captcha already used", "captcha: this hCaptcha response was already used.");
    else
        answer(c, 503, NULL, "Captcha verification");
}

/* --- CLAIM --- */

static void on_claimed(struct redis_client *rc, const redisReply *r, const char *err, void *ctx)
{
    (void)rc;
    struct pass_call *c = ctx;
    if (err != NULL || (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_STRING)) {
        answer(c, 503, NULL, "The seat store");
        return;
    }
    if (r->type == REDIS_REPLY_STRING) { /* claimed before: this account's pass already, or used */
        if (strcmp(r->str, c->value) == 0)
            answer_pass(c);
        else
            answer(c, 403, "Captcha already used", "captcha: this hCaptcha response was already used.");
        return;
    }
    struct guard *g = guard_for_worker(c->bw->w);
    if (g == NULL || guard_verify_claimed(g, "booking", c->captcha, c->ip, c->key, on_verified, c) != 0) {
        const char *argv[] = {"DEL", c->key};
        (void)redis_command(c->bw->redis, bk_redis_ignore, NULL, 2, argv,
                            NULL); /* else the claim's TTL ends it */
        answer(c, 503, NULL, "Captcha verification");
    }
}

static void claim(struct pass_call *c)
{
    struct guard *g = guard_for_worker(c->bw->w);
    char ttl[16];
    if (bk_key_captcha(c->key, c->office, c->captcha) != 0) {
        answer(c, 503, NULL, "Captcha verification");
        return;
    }
    snprintf(c->token, sizeof(c->token), "%08x%08x", arc4random(), arc4random());
    snprintf(ttl, sizeof(ttl), "%u", guard_captcha_reuse_ttl_s(g));
    /* SET NX GET (Redis 7): nil when this call claimed it, else the value claimed before, left alone */
    const char *argv[] = {"SET", c->key, c->token, "NX", "GET", "EX", ttl};
    if (redis_command(c->bw->redis, on_claimed, c, 7, argv, NULL) != 0)
        answer(c, 503, NULL, "The seat store");
}

/* --- RATE --- */

static void on_rate(enum guard_verdict v, unsigned retry_after_s, void *ctx)
{
    struct pass_call *c = ctx;
    h2o_req_t *req = server_async_req(c);
    if (req == NULL) {
        finish(c);
    } else if (v == GUARD_OK) {
        claim(c);
    } else if (v == GUARD_RATE_LIMITED) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%u", retry_after_s > 0 ? retry_after_s : 1);
        server_add_header(req, "retry-after", ra);
        answer(c, 429, "Too many requests", "Too many captcha checks; try again later.");
    } else {
        answer(c, 503, NULL, "Rate limiting");
    }
}

/* --- SESSION --- */

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct pass_call *c = ctx;
    if (req == NULL || s == NULL) {
        finish(c);
        return;
    }
    c->account = s->account_id;
    bk_captcha_pass_value(c->value, c->account);
    struct guard *g = guard_for_worker(c->bw->w);
    if (g == NULL || !guard_needs_captcha(g, "booking")) {
        /* bookings need no captcha here: nothing to check, and nothing kept */
        struct json_buf b;
        json_buf_init(&b, &req->pool);
        json_open_object(&b, NULL);
        json_add_bool(&b, "verified", 0);
        json_add_bool(&b, "required", 0);
        json_close_object(&b);
        server_send_json(req, 200, b.base, b.len);
        finish(c);
        return;
    }
    char account[24];
    snprintf(account, sizeof(account), "%" PRId64, c->account);
    struct guard_subject subj = {.ip = c->ip, .account = account, .document = NULL};
    if (guard_rate_check(g, "captcha", &subj, on_rate, c) != 0)
        answer(c, 503, NULL, "Rate limiting");
}

void booking_on_captcha_pass(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return;
    for (size_t i = 0; i < body->len; i++)
        if (strcmp(body->keys[i], "office") != 0 && strcmp(body->keys[i], "captcha") != 0 &&
            strcmp(body->keys[i], "h-captcha-response") != 0) {
            char d[120];
            snprintf(d, sizeof(d), "%.60s: unknown field.", body->keys[i]);
            server_send_problem(req, 400, "Bad request", d);
            return;
        }
    size_t olen = 0, clen = 0;
    const char *office = json_get_str(body, "office", &olen);
    if (office == NULL || !bk_office_valid(office, olen)) {
        server_send_problem(req, 400, "Bad request",
                            "office: the code of the office to book in is required.");
        return;
    }
    const char *cap = json_get_str(body, "captcha", &clen);
    if (cap == NULL)
        cap = json_get_str(body, "h-captcha-response", &clen);
    if (cap == NULL || clen == 0 || clen > GUARD_MAX_RESPONSE || memchr(cap, '\0', clen) != NULL) {
        server_send_problem(req, 400, "Bad request",
                            "captcha: the hCaptcha response (a string) is required.");
        return;
    }
    struct bk_worker *bw = bk_worker_of(req);
    if (bw == NULL) {
        bk_unavailable(req, "Booking");
        return;
    }
    struct pass_call *c = server_async_alloc(req, sizeof(*c));
    c->bw = bw;
    memcpy(c->office, office, olen);
    c->office[olen] = '\0';
    if ((c->captcha = strndup(cap, clen)) == NULL)
        h2o_fatal("out of memory");
    server_client_ip(req, c->ip);
    auth_load_session(req, on_session, c);
}
