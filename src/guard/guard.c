/*
 * guard: lifetime of the guard and of its pending calls. Every call is on g->pending until it is answered;
 * verdicts known at once wait on g->ready for the guard's deferred work (ring_defer), so no callback runs
 * inside the call that started it.
 */
#include "internal.h"
#include "citas/redis.h"
#include "citas/curl.h"
#include "rate_limit_lua.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_defer(struct ring_defer *d);

/* Every worker's rate verdicts together, for /metrics: ok, limited, unavailable, and remembered. */
static _Atomic uint64_t totals[4];

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s != NULL ? s : dflt);
}

int guard_create(struct ring *ring, struct redis_client *redis, struct curl_client *curl,
                 const struct guard_config *cfg, struct guard **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = guard_config_check(cfg, err, errlen);
    if (rc != 0)
        return rc;
    struct guard *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return -ENOMEM;
    g->ring = ring;
    g->redis = redis;
    g->curl = curl;
    g->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 3000;
    g->reuse_ttl_s = cfg->reuse_ttl_s ? cfg->reuse_ttl_s : 150;
    g->siteverify_url = dup_or(cfg->siteverify_url, GUARD_DEFAULT_SITEVERIFY_URL);
    g->secret = dup_or(cfg->secret, "");
    g->sitekey = dup_or(cfg->sitekey, "");
    g->hostnames = dup_or(cfg->hostname, "");
    g->actions = dup_or(cfg->actions, GUARD_DEFAULT_ACTIONS);
    g->prefix = dup_or(cfg->key_prefix, "citas:guard:");
    g->penalty_routes = dup_or(cfg->penalty_routes, GUARD_DEFAULT_PENALTY_ROUTES);
    g->script = redis_script_create(guard_rate_limit_lua);
    g->defer.cb = on_defer;
    rc = guard_rules_parse(cfg->rate_limits, &g->rules, &g->nrules, err, errlen);
    if (rc == 0)
        rc = guard_refusals_create(g, cfg->refusal_slots);
    if (rc == 0 &&
        (g->siteverify_url == NULL || g->secret == NULL || g->sitekey == NULL || g->hostnames == NULL ||
         g->actions == NULL || g->prefix == NULL || g->penalty_routes == NULL || g->script == NULL))
        rc = -ENOMEM;
    if (rc != 0) {
        guard_destroy(g);
        return rc;
    }
    *out = g;
    return 0;
}

static void free_guard(struct guard *g)
{
    free(g->siteverify_url);
    free(g->secret);
    free(g->sitekey);
    free(g->hostnames);
    free(g->actions);
    free(g->prefix);
    free(g->penalty_routes);
    free(g->rules);
    guard_refusals_free(g);
    redis_script_free(g->script);
    free(g);
}

/* The guard's memory goes once nothing of the ring still refers to it. */
static void maybe_free(struct guard *g)
{
    if (g->closing && !g->in_defer && !g->defer_queued)
        free_guard(g);
}

struct guard_call *guard_call_new(struct guard *g, enum guard_call_kind kind, void *ctx)
{
    struct guard_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->g = g;
    c->kind = kind;
    c->ctx = ctx;
    c->next = g->pending;
    if (g->pending != NULL)
        g->pending->prev = c;
    g->pending = c;
    g->stats.pending++;
    return c;
}

static void unlink_call(struct guard_call *c)
{
    struct guard *g = c->g;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        g->pending = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    g->stats.pending--;
}

void guard_call_free(struct guard_call *c)
{
    free(c->claim_key);
    free(c->form);
    free(c->refusal_keys);
    free(c);
}

void guard_call_drop(struct guard_call *c)
{
    unlink_call(c);
    guard_call_free(c);
}

void guard_count_rate(struct guard *g, enum guard_verdict v)
{
    struct guard_stats *s = &g->stats;
    int i = v == GUARD_OK ? 0 : v == GUARD_RATE_LIMITED ? 1 : 2;
    uint64_t *mine[3] = {&s->rate_ok, &s->rate_limited, &s->rate_unavailable};
    (*mine[i])++;
    atomic_fetch_add_explicit(&totals[i], 1, memory_order_relaxed);
}

void guard_count_remembered(struct guard *g)
{
    g->stats.rate_remembered++;
    atomic_fetch_add_explicit(&totals[3], 1, memory_order_relaxed);
}

void guard_get_totals(struct guard_stats *out)
{
    *out = (struct guard_stats){
        .rate_ok = atomic_load_explicit(&totals[0], memory_order_relaxed),
        .rate_limited = atomic_load_explicit(&totals[1], memory_order_relaxed),
        .rate_unavailable = atomic_load_explicit(&totals[2], memory_order_relaxed),
        .rate_remembered = atomic_load_explicit(&totals[3], memory_order_relaxed),
    };
}

static void count(struct guard *g, enum guard_call_kind kind, enum guard_verdict v)
{
    struct guard_stats *s = &g->stats;
    if (kind == GUARD_CALL_PENALTY) {
        if (v != GUARD_OK)
            s->rate_unavailable++;
        return;
    }
    if (kind == GUARD_CALL_RATE) {
        guard_count_rate(g, v);
        return;
    }
    switch (v) {
    case GUARD_OK:
        s->captcha_ok++;
        break;
    case GUARD_CAPTCHA_MISSING:
        s->captcha_missing++;
        break;
    case GUARD_CAPTCHA_INVALID:
        s->captcha_invalid++;
        break;
    case GUARD_CAPTCHA_REUSED:
        s->captcha_reused++;
        break;
    default:
        s->captcha_unavailable++;
        break;
    }
}

/* Calls the callback of a call already freed (`cb` is a copy of it), unless it was detached. */
static void call_back(const struct guard_call *cb, enum guard_verdict v, unsigned retry_after)
{
    if (cb->detached)
        return;
    switch (cb->kind) {
    case GUARD_CALL_RATE:
        cb->rate_cb(v, v == GUARD_RATE_LIMITED ? retry_after : 0, cb->ctx);
        break;
    case GUARD_CALL_PENALTY:
        if (cb->penalty_cb != NULL)
            cb->penalty_cb(v, cb->ctx);
        break;
    default:
        cb->captcha_cb(v, cb->ctx);
    }
}

void guard_call_finish(struct guard_call *c, enum guard_verdict v, unsigned retry_after)
{
    unlink_call(c);
    count(c->g, c->kind, v);
    struct guard_call cb = *c;
    guard_call_free(c);
    call_back(&cb, v, retry_after);
}

void guard_call_answer_later(struct guard_call *c, enum guard_verdict v, unsigned retry_after)
{
    struct guard *g = c->g;
    c->stage = GUARD_STAGE_READY;
    c->verdict = v;
    c->retry_after = retry_after;
    c->ready_next = NULL;
    if (g->ready_tail != NULL)
        g->ready_tail->ready_next = c;
    else
        g->ready = c;
    g->ready_tail = c;
    if (!g->defer_queued) {
        g->defer_queued = 1;
        ring_defer(g->ring, &g->defer);
    }
}

static void on_defer(struct ring_defer *d)
{
    struct guard *g = (struct guard *)((char *)d - offsetof(struct guard, defer));
    g->defer_queued = 0;
    g->in_defer = 1;
    /* A callback may start calls (appended here), cancel them, or destroy the guard. */
    while (!g->closing && g->ready != NULL) {
        struct guard_call *c = g->ready;
        g->ready = c->ready_next;
        if (g->ready == NULL)
            g->ready_tail = NULL;
        guard_call_finish(c, c->verdict, c->retry_after);
    }
    g->in_defer = 0;
    maybe_free(g);
}

void guard_destroy(struct guard *g)
{
    if (g == NULL)
        return;
    g->closing = 1;
    g->ready = g->ready_tail = NULL;
    while (g->pending != NULL) {
        struct guard_call *c = g->pending;
        unlink_call(c);
        count(g, c->kind, GUARD_UNAVAILABLE);
        struct guard_call cb = *c;
        if (c->stage == GUARD_STAGE_CURL) {
            c->stage = GUARD_STAGE_DEAD; /* the transfer's callback, run by the cancel, frees it */
            curl_client_cancel(c->transfer);
        } else {
            if (c->stage == GUARD_STAGE_REDIS)
                redis_detach(g->redis, c);
            guard_call_free(c);
        }
        call_back(&cb, GUARD_UNAVAILABLE, 0);
    }
    maybe_free(g);
}

size_t guard_cancel(struct guard *g, void *ctx)
{
    size_t n = 0;
    struct guard_call *c = g->pending, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        if (c->ctx != ctx || c->detached)
            continue;
        c->detached = 1;
        n++;
        /* The transfer's callback runs now and finishes the call quietly; `next` is unaffected. */
        if (c->stage == GUARD_STAGE_CURL)
            curl_client_cancel(c->transfer);
    }
    return n;
}

const char *guard_verdict_name(enum guard_verdict v)
{
    switch (v) {
    case GUARD_OK:
        return "ok";
    case GUARD_CAPTCHA_MISSING:
        return "captcha_missing";
    case GUARD_CAPTCHA_INVALID:
        return "captcha_invalid";
    case GUARD_CAPTCHA_REUSED:
        return "captcha_reused";
    case GUARD_UNAVAILABLE:
        return "unavailable";
    case GUARD_RATE_LIMITED:
        return "rate_limited";
    }
    return "unknown";
}

int guard_needs_captcha(const struct guard *g, const char *action)
{
    return action != NULL && guard_list_has(g->actions, action, strlen(action));
}

static int verify(struct guard *g, const char *action, const char *response, const char *remote_ip,
                  const char *claimed_key, guard_captcha_cb cb, void *ctx)
{
    if (g->closing)
        return -ECANCELED;
    struct guard_call *c = guard_call_new(g, GUARD_CALL_CAPTCHA, ctx);
    if (c == NULL)
        return -ENOMEM;
    c->captcha_cb = cb;
    if (!guard_needs_captcha(g, action))
        guard_call_answer_later(c, GUARD_OK, 0);
    else if (response == NULL || response[0] == '\0')
        guard_call_answer_later(c, GUARD_CAPTCHA_MISSING, 0);
    else if (guard_captcha_start(c, response, remote_ip, claimed_key) != 0) {
        guard_call_drop(c);
        return -ENOMEM;
    }
    return 0;
}

int guard_verify_captcha(struct guard *g, const char *action, const char *response, const char *remote_ip,
                         guard_captcha_cb cb, void *ctx)
{
    return verify(g, action, response, remote_ip, NULL, cb, ctx);
}

int guard_verify_claimed(struct guard *g, const char *action, const char *response, const char *remote_ip,
                         const char *claim_key, guard_captcha_cb cb, void *ctx)
{
    if (claim_key == NULL || claim_key[0] == '\0')
        return -EINVAL;
    return verify(g, action, response, remote_ip, claim_key, cb, ctx);
}

int guard_subject_ok(const struct guard_subject *s)
{
    const char *f[3] = {s->ip, s->account, s->document};
    for (int i = 0; i < 3; i++)
        if (f[i] != NULL && strlen(f[i]) > GUARD_MAX_SUBJECT)
            return 0;
    return 1;
}

int guard_rate_check(struct guard *g, const char *routes, const struct guard_subject *subject,
                     guard_rate_cb cb, void *ctx)
{
    if (g->closing)
        return -ECANCELED;
    if (!guard_subject_ok(subject))
        return -EINVAL;
    struct guard_call *c = guard_call_new(g, GUARD_CALL_RATE, ctx);
    if (c == NULL)
        return -ENOMEM;
    c->rate_cb = cb;
    if (guard_rate_start(c, routes ? routes : "", subject) != 0) {
        guard_call_drop(c);
        return -ENOMEM;
    }
    return 0;
}

void guard_get_stats(const struct guard *g, struct guard_stats *out)
{
    *out = g->stats;
}
