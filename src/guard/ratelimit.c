/*
 * guard: rate limits. Every rule that applies to a call becomes one bucket key; one EVALSHA of
 * rate_limit.lua takes a token from all of them or from none. Keys: PREFIX "rl:" ROUTE ":" DIMENSION
 * [":" VALUE], e.g. "citas:guard:rl:login:ip:192.0.2.7" or "citas:guard:rl:booking:route".
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

int guard_rate_start(struct guard_call *c, const char *routes, const struct guard_subject *s)
{
    struct guard *g = c->g;
    size_t n = 0;
    const char **keys = calloc(g->nrules ? 3 * g->nrules : 1, sizeof(*keys));
    char *nums = malloc(g->nrules ? 2 * 16 * g->nrules : 1);
    if (keys == NULL || nums == NULL) {
        free(keys);
        free(nums);
        return -ENOMEM;
    }
    const char **args = keys + g->nrules;
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
        size_t len = strlen(g->prefix) + sizeof("rl:") + strlen(r->route) + 1 + 8 + 1 + strlen(value) + 1;
        char *key = malloc(len);
        if (key == NULL) {
            rc = -ENOMEM;
            break;
        }
        snprintf(key, len, "%srl:%s:%s%s%s", g->prefix, r->route, guard_dim_name(r->dim), value[0] ? ":" : "",
                 value);
        keys[n] = key;
        char *cap = nums + 32 * n, *period = cap + 16;
        snprintf(cap, 16, "%u", (unsigned)r->capacity);
        snprintf(period, 16, "%llu", (unsigned long long)r->period_s * 1000);
        args[2 * n] = cap;
        args[2 * n + 1] = period;
        n++;
    }
    if (rc == 0 && n == 0) {
        guard_call_answer_later(c, GUARD_OK, 0);
    } else if (rc == 0) {
        /* EVALSHA wants the keys, then the other arguments, in one array. */
        const char **argv = calloc(3 * n, sizeof(*argv));
        if (argv == NULL) {
            rc = -ENOMEM;
        } else {
            memcpy(argv, keys, n * sizeof(*argv));
            memcpy(argv + n, args, 2 * n * sizeof(*argv));
            c->stage = GUARD_STAGE_REDIS;
            rc = redis_evalsha(g->redis, g->script, (int)n, (int)(3 * n), argv, NULL, on_reply, c);
            free(argv);
            if (rc != 0 && rc != -ENOMEM) {
                guard_call_answer_later(c, GUARD_UNAVAILABLE, 0);
                rc = 0;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        free((char *)keys[i]);
    free(keys);
    free(nums);
    return rc;
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
    unsigned s = ms <= 1000 ? 1 : (unsigned)((ms + 999) / 1000);
    guard_call_finish(c, GUARD_RATE_LIMITED, s);
}
