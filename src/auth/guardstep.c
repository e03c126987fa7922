/*
 * The bot-defence step of the auth state machines: the rate limits of the route (cheap, one Redis call)
 * first, then the captcha (a siteverify round trip), both before any expensive work (hashing, PostgreSQL).
 * Built without the guard module, the step lets everything through.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>

const char *auth_captcha_field(h2o_req_t *req, const struct json_value *body, int *bad)
{
    *bad = 0;
    const char *keys[] = {"captcha", "h-captcha-response"};
    for (int i = 0; i < 2; i++) {
        const struct json_value *v = json_get(body, keys[i]);
        if (v == NULL)
            continue;
        if (v->type != JSON_STRING || v->len > 16384) {
            auth_bad_field(req, keys[i], v->type != JSON_STRING ? "must be a string" : "is too long");
            *bad = 1;
            return NULL;
        }
        return v->str;
    }
    return NULL;
}

static void on_captcha(enum guard_verdict v, void *ctx)
{
    struct auth_guard_step *st = ctx;
    h2o_req_t *req = server_async_req(st->state);
    if (req == NULL) {
        st->cb(0, st->ctx);
        return;
    }
    switch (v) {
    case GUARD_OK:
        st->cb(1, st->ctx);
        return;
    case GUARD_CAPTCHA_MISSING:
        auth_problem(req, 400, "Captcha required",
                     "captcha: the hCaptcha response (field 'captcha' or 'h-captcha-response') is missing.");
        break;
    case GUARD_CAPTCHA_INVALID:
        auth_problem(req, 403, "Captcha rejected",
                     "captcha: the hCaptcha response was not accepted; solve the captcha again.");
        break;
    case GUARD_CAPTCHA_REUSED:
        auth_problem(req, 403, "Captcha already used",
                     "captcha: this hCaptcha response was already used; solve the captcha again.");
        break;
    default:
        auth_unavailable(req, "Captcha verification");
        break;
    }
    st->cb(0, st->ctx);
}

static void run_captcha(struct auth_guard_step *st, struct guard *g)
{
    if (st->action == NULL || g == NULL) {
        st->cb(1, st->ctx);
        return;
    }
    if (guard_verify_captcha(g, st->action, st->captcha, st->ip, on_captcha, st) != 0) {
        h2o_req_t *req = server_async_req(st->state);
        if (req != NULL)
            auth_unavailable(req, "Captcha verification");
        st->cb(0, st->ctx);
    }
}

static void on_rate(enum guard_verdict v, unsigned retry_after_s, void *ctx)
{
    struct auth_guard_step *st = ctx;
    h2o_req_t *req = server_async_req(st->state);
    if (req == NULL) {
        st->cb(0, st->ctx);
        return;
    }
    if (v == GUARD_OK) {
        run_captcha(st, guard_for_worker(server_worker_of(req)));
        return;
    }
    if (v == GUARD_RATE_LIMITED) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%u", retry_after_s > 0 ? retry_after_s : 1);
        server_add_header(req, "retry-after", ra);
        char detail[160];
        snprintf(detail, sizeof(detail), "Too many attempts; try again in %u seconds.",
                 retry_after_s > 0 ? retry_after_s : 1);
        auth_problem(req, 429, "Too many requests", detail);
    } else {
        auth_unavailable(req, "Rate limiting");
    }
    st->cb(0, st->ctx);
}

void auth_guard_run(struct auth_guard_step *st)
{
    h2o_req_t *req = server_async_req(st->state);
    struct guard *g = req != NULL ? guard_for_worker(server_worker_of(req)) : NULL;
    if (g == NULL || st->routes == NULL) {
        run_captcha(st, g);
        return;
    }
    struct guard_subject subj = {.ip = st->ip, .account = st->account, .document = st->document};
    if (guard_rate_check(g, st->routes, &subj, on_rate, st) != 0) {
        auth_unavailable(req, "Rate limiting");
        st->cb(0, st->ctx);
    }
}
