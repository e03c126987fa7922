/*
 * guard: rate limits. Every rule that applies to a call becomes one bucket key; one EVALSHA of
 * rate_limit.lua takes a token from all of them or from none. Keys: PREFIX "rlg:" ROUTE ":" DIMENSION
 * [":" VALUE], e.g. "citas:guard:rlg:login:ip:192.0.2.7" or "citas:guard:rlg:booking:route", each a string
 * (the bucket's theoretical arrival time). The "rl:" keys of older versions were hashes; they expire alone.
 * Penalties (guard_penalize()) are keys PREFIX "pen:" ROUTE ":account:" VALUE with a TTL; the same script
 * checks them (capacity 0 marks one) for the routes of penalty_routes.
 */
#include "internal.h"
#include "citas/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_reply(struct redis_client *rc, const redisReply *reply, const char *err, void *ctx);

static int applies(const struct guard_rule *r, const char *routes)
{
    return strcmp(r->route, "*") == 0 || guard_list_has(routes, r->route, strlen(r->route));
}

/* The bucket keys of one call and their capacity/period arguments, and the keys joined by '\n' (the key
 * of the refusal memory). */
struct rate_keys {
    const char **keys, **args;
    char *nums;
    char *joined;
    size_t n;
};

static void rate_keys_free(struct rate_keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        free((char *)k->keys[i]);
    free(k->keys);
    free(k->nums);
    free(k->joined);
}

/* Fills k with every bucket (and penalty) of `routes` for the subject's known fields. 0 or -ENOMEM. */
static int rate_keys_build(const struct guard *g, const char *routes, const struct guard_subject *s,
                           struct rate_keys *k)
{
    size_t n = 0, max = g->nrules + GUARD_MAX_PENALTY_KEYS;
    *k = (struct rate_keys){0};
    k->keys = calloc(3 * max, sizeof(*k->keys));
    k->nums = malloc(2 * 16 * max);
    if (k->keys == NULL || k->nums == NULL)
        return -ENOMEM;
    k->args = k->keys + max;
    int rc = 0;
    for (size_t i = 0; i < g->nrules && rc == 0; i++) {
        const struct guard_rule *r = &g->rules[i];
        if (!applies(r, routes))
            continue;
        const char *value = r->dim == GUARD_DIM_IP         ? s->ip
                            : r->dim == GUARD_DIM_ACCOUNT  ? s->account
                            : r->dim == GUARD_DIM_DOCUMENT ? s->document
                                                           : "";
        if (value == NULL || (value[0] == '\0' && r->dim != GUARD_DIM_ROUTE))
            continue; /* unknown subject field: no bucket */
        size_t len = strlen(g->prefix) + sizeof("rlg:") + strlen(r->route) + 1 + 8 + 1 + strlen(value) + 1;
        char *key = malloc(len);
        if (key == NULL) {
            rc = -ENOMEM;
            break;
        }
        snprintf(key, len, "%srlg:%s:%s%s%s", g->prefix, r->route, guard_dim_name(r->dim),
                 value[0] ? ":" : "", value);
        k->keys[n] = key;
        char *cap = k->nums + 32 * n, *period = cap + 16;
        snprintf(cap, 16, "%u", (unsigned)r->capacity);
        snprintf(period, 16, "%llu", (unsigned long long)r->period_s * 1000);
        k->args[2 * n] = cap;
        k->args[2 * n + 1] = period;
        k->n = ++n;
    }
    /* the account's penalties on each route of the call that takes them */
    for (const char *r = routes; rc == 0 && s->account != NULL && s->account[0] != '\0' && *r != '\0';) {
        size_t len = strcspn(r, ",");
        if (len > 0 && len <= GUARD_MAX_ROUTE && n < max && guard_list_has(g->penalty_routes, r, len)) {
            char *key = guard_penalty_key(g, r, len, s->account);
            if (key == NULL) {
                rc = -ENOMEM;
                break;
            }
            k->keys[n] = key;
            k->args[2 * n] = "0";
            k->args[2 * n + 1] = "0";
            k->n = ++n;
        }
        r += len + (r[len] == ',');
    }
    if (rc != 0 || n == 0 || g->nrefusals == 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(k->keys[i]) + 1;
    k->joined = malloc(total);
    if (k->joined == NULL)
        return -ENOMEM;
    char *p = k->joined;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(k->keys[i]);
        memcpy(p, k->keys[i], len);
        p += len;
        *p++ = i + 1 < n ? '\n' : '\0';
    }
    return 0;
}

/* Seconds of a Retry-After for a refusal of `ms`: at least 1, rounded up. */
static unsigned retry_s(uint64_t ms)
{
    return ms <= 1000 ? 1 : (unsigned)((ms + 999) / 1000);
}

int guard_rate_refused(struct guard *g, const char *routes, const struct guard_subject *s,
                       unsigned *retry_after_s)
{
    if (g == NULL || s == NULL || retry_after_s == NULL)
        return -EINVAL;
    *retry_after_s = 0;
    if (g->nrefusals == 0 || routes == NULL)
        return 0;
    if (!guard_subject_ok(s))
        return -EINVAL;
    struct rate_keys k;
    int rc = rate_keys_build(g, routes, s, &k);
    uint64_t left = rc == 0 && k.joined != NULL ? guard_refusal_left(g, k.joined, guard_now_ms()) : 0;
    rate_keys_free(&k);
    if (rc != 0)
        return rc;
    if (left == 0)
        return 0;
    guard_count_rate(g, GUARD_RATE_LIMITED);
    guard_count_remembered(g);
    *retry_after_s = retry_s(left);
    return 1;
}

int guard_rate_start(struct guard_call *c, const char *routes, const struct guard_subject *s)
{
    struct guard *g = c->g;
    struct rate_keys k;
    int rc = rate_keys_build(g, routes, s, &k);
    size_t n = k.n;
    uint64_t left = 0;
    int64_t now = 0;
    if (rc == 0 && k.joined != NULL) {
        now = guard_now_ms();
        left = guard_refusal_left(g, k.joined, now);
    }
    if (rc == 0 && n == 0) {
        guard_call_answer_later(c, GUARD_OK, 0);
    } else if (rc == 0 && left > 0) { /* refused a moment ago, and still: Redis would say the same */
        guard_count_remembered(g);
        guard_call_answer_later(c, GUARD_RATE_LIMITED, retry_s(left));
    } else if (rc == 0) {
        /* EVALSHA wants the keys, then the other arguments, in one array. */
        const char **argv = calloc(3 * n, sizeof(*argv));
        if (argv == NULL) {
            rc = -ENOMEM;
        } else {
            memcpy(argv, k.keys, n * sizeof(*argv));
            memcpy(argv + n, k.args, 2 * n * sizeof(*argv));
            c->stage = GUARD_STAGE_REDIS;
            c->refusal_keys = k.joined; /* remembered if Redis refuses */
            k.joined = NULL;
            c->sent_ms = now;
            rc = redis_evalsha(g->redis, g->script, (int)n, (int)(3 * n), argv, NULL, on_reply, c);
            free(argv);
            if (rc != 0 && rc != -ENOMEM) {
                guard_call_answer_later(c, GUARD_UNAVAILABLE, 0);
                rc = 0;
            }
        }
    }
    rate_keys_free(&k);
    return rc;
}

char *guard_penalty_key(const struct guard *g, const char *route, size_t route_len, const char *account)
{
    size_t len = strlen(g->prefix) + sizeof("pen:") + route_len + sizeof(":account:") + strlen(account) + 1;
    char *key = malloc(len);
    if (key != NULL)
        snprintf(key, len, "%spen:%.*s:account:%s", g->prefix, (int)route_len, route, account);
    return key;
}

/* One reply of the two commands of a penalty; the call is answered after the last (same connection, in
 * order), so the penalty is in Redis when the callback runs with GUARD_OK. */
static void on_penalized(struct redis_client *rc, const redisReply *reply, const char *err, void *ctx)
{
    (void)rc, (void)reply;
    struct guard_call *c = ctx;
    if (err != NULL)
        c->failed = 1;
    if (--c->replies_left == 0)
        guard_call_finish(c, c->failed ? GUARD_UNAVAILABLE : GUARD_OK, 0);
}

int guard_penalize(struct guard *g, const char *route, const char *account, uint64_t ms, guard_penalty_cb cb,
                   void *ctx)
{
    if (g->closing)
        return -ECANCELED;
    if (route == NULL || account == NULL || account[0] == '\0' || strlen(account) > GUARD_MAX_SUBJECT ||
        strlen(route) > GUARD_MAX_ROUTE || ms == 0)
        return -EINVAL;
    char *key = guard_penalty_key(g, route, strlen(route), account);
    struct guard_call *c = key != NULL ? guard_call_new(g, GUARD_CALL_PENALTY, ctx) : NULL;
    if (c == NULL) {
        free(key);
        return -ENOMEM;
    }
    c->penalty_cb = cb;
    char px[24];
    snprintf(px, sizeof(px), "%llu", (unsigned long long)ms);
    /* a longer penalty replaces a shorter one, never the other way: SET NX, then PEXPIRE GT */
    const char *set[] = {"SET", key, "1", "PX", px, "NX"};
    const char *ext[] = {"PEXPIRE", key, px, "GT"};
    c->stage = GUARD_STAGE_REDIS;
    int rc = redis_command(g->redis, on_penalized, c, 6, set, NULL);
    if (rc == 0) {
        c->replies_left = 1;
        /* the SET alone is in flight if this fails: its reply answers the call, as failed */
        if (redis_command(g->redis, on_penalized, c, 4, ext, NULL) == 0)
            c->replies_left = 2;
        else
            c->failed = 1;
    }
    free(key);
    if (rc == -ENOMEM) {
        guard_call_drop(c);
        return -ENOMEM;
    }
    g->stats.penalties++;
    if (rc != 0) /* Redis is not there (waiting to reconnect, too many pending): a failed penalty */
        guard_call_answer_later(c, GUARD_UNAVAILABLE, 0);
    return 0;
}

static void on_reply(struct redis_client *rc, const redisReply *reply, const char *err, void *ctx)
{
    (void)rc;
    struct guard_call *c = ctx;
    if (err != NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[1]->type != REDIS_REPLY_INTEGER) {
        guard_call_finish(c, GUARD_UNAVAILABLE, 0);
        return;
    }
    if (reply->element[0]->integer == 1) {
        guard_call_finish(c, GUARD_OK, 0);
        return;
    }
    long long ms = reply->element[1]->integer;
    if (ms < 0)
        ms = 0;
    if (c->refusal_keys != NULL && ms > 0)
        guard_refusal_note(c->g, c->refusal_keys, c->sent_ms + ms);
    guard_call_finish(c, GUARD_RATE_LIMITED, retry_s((uint64_t)ms));
}
