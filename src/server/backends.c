/*
 * A worker's backend clients (Redis, PostgreSQL) and the periodic check that feeds /readyz and /metrics:
 * every health_interval_ms the worker sends PING and SELECT 1 through its own clients and publishes the
 * outcome and its clients' counters in its worker_health.
 */
#include "internal.h"
#include "citas/curl.h"
#include "citas/pg.h"
#include "citas/redis.h"
#include "citas/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct backends {
    struct server_worker *w;
    struct redis_client *redis;
    struct pg_pool *pg;
    struct curl_client *curl; /* outbound HTTPS (hCaptcha) and SMTP */
    struct ring_op tick;
    int stopping;
    int redis_check_pending, pg_check_pending;
};

static void publish(struct backends *b)
{
    struct worker_health *h = &b->w->health;
    struct redis_stats rs;
    struct pg_stats ps;
    struct curl_client_stats cs;
    redis_get_stats(b->redis, &rs);
    pg_get_stats(b->pg, &ps);
    curl_client_get_stats(b->curl, &cs);
    atomic_store(&h->curl_errors, cs.failed);
    atomic_store(&h->curl_inflight, cs.in_flight);
    atomic_store(&h->redis_errors, rs.errors);
    atomic_store(&h->redis_inflight, rs.pending);
    atomic_store(&h->pg_errors, ps.errors);
    atomic_store(&h->pg_inflight, ps.in_flight);
}

static void on_redis_ping(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct backends *b = ctx;
    b->redis_check_pending = 0;
    int ok =
        err == NULL && reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
    atomic_store(&b->w->health.redis_ok, ok);
    atomic_store(&b->w->health.redis_checked_at, server_monotonic_ms());
}

static void on_pg_ping(const struct pg_reply *reply, void *ctx)
{
    struct backends *b = ctx;
    b->pg_check_pending = 0;
    atomic_store(&b->w->health.pg_ok, reply->status == PG_OK);
    atomic_store(&b->w->health.pg_checked_at, server_monotonic_ms());
}

static void check(struct backends *b)
{
    if (!b->redis_check_pending) {
        const char *argv[] = {"PING"};
        if (redis_command(b->redis, on_redis_ping, b, 1, argv, NULL) == 0) {
            b->redis_check_pending = 1;
        } else {
            atomic_store(&b->w->health.redis_ok, 0);
            atomic_store(&b->w->health.redis_checked_at, server_monotonic_ms());
        }
    }
    if (!b->pg_check_pending) {
        if (pg_query(b->pg, "SELECT 1", 0, NULL, on_pg_ping, b) == 0) {
            b->pg_check_pending = 1;
        } else {
            atomic_store(&b->w->health.pg_ok, 0);
            atomic_store(&b->w->health.pg_checked_at, server_monotonic_ms());
        }
    }
    publish(b);
}

static void on_tick(struct ring_op *op, int res)
{
    struct backends *b = op->data;
    if (b->stopping || res == -ECANCELED)
        return;
    check(b);
    ring_timeout(b->w->ring, &b->tick, b->w->srv->cfg->health_interval_ms);
}

int backends_start(struct server_worker *w)
{
    const struct server_config *cfg = w->srv->cfg;
    struct backends *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->w = w;
    w->backends = b;
    struct redis_config rc = {
        .host = cfg->redis_host, .port = (int)cfg->redis_port, .timeout_ms = (uint32_t)cfg->redis_timeout_ms};
    int rc_ = redis_client_create(w->ring, &rc, &b->redis);
    if (rc_ < 0)
        return rc_;
    struct pg_pool_config pc = {
        .conninfo = cfg->pg_dsn, .size = cfg->pg_pool_size, .timeout_ms = (unsigned)cfg->pg_timeout_ms};
    rc_ = pg_pool_create(w->ring, &pc, &b->pg);
    if (rc_ < 0)
        return rc_;
    rc_ = curl_client_create(w->ring, NULL, &b->curl);
    if (rc_ < 0)
        return rc_;
    const struct server_app *app = w->srv->app;
    w->module_state = calloc(app->nmodules + 1, sizeof(void *));
    if (w->module_state == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < app->nmodules; i++)
        if (app->modules[i]->worker_init != NULL && (!w->background || app->modules[i]->background) &&
            (rc_ = app->modules[i]->worker_init(w, &w->module_state[i])) != 0)
            return rc_;
    b->tick = (struct ring_op){.cb = on_tick, .data = b};
    /* the first check runs as soon as the loop starts, so /readyz turns true without waiting a full interval
     */
    return ring_timeout(w->ring, &b->tick, 1);
}

void backends_stop(struct server_worker *w)
{
    struct backends *b = w->backends;
    if (b == NULL || b->stopping)
        return;
    b->stopping = 1;
    ring_cancel(w->ring, &b->tick);
    const struct server_app *app = w->srv->app;
    for (size_t i = app->nmodules; w->module_state != NULL && i-- > 0;)
        if (app->modules[i]->worker_stop != NULL && w->module_state[i] != NULL)
            app->modules[i]->worker_stop(w->module_state[i]);
    redis_client_destroy(b->redis);
    b->redis = NULL;
    pg_pool_destroy(b->pg);
    b->pg = NULL;
    curl_client_destroy(b->curl);
    b->curl = NULL;
}

int backends_idle(struct server_worker *w)
{
    return w->backends == NULL || !w->backends->tick.in_flight;
}

void backends_free(struct server_worker *w)
{
    if (w->backends == NULL)
        return;
    backends_stop(w);
    const struct server_app *app = w->srv->app;
    for (size_t i = app->nmodules; w->module_state != NULL && i-- > 0;)
        if (app->modules[i]->worker_free != NULL && w->module_state[i] != NULL)
            app->modules[i]->worker_free(w->module_state[i]);
    free(w->module_state);
    w->module_state = NULL;
    free(w->backends);
    w->backends = NULL;
}

struct redis_client *server_worker_redis(struct server_worker *w)
{
    return w->backends != NULL ? w->backends->redis : NULL;
}

struct pg_pool *server_worker_pg(struct server_worker *w)
{
    return w->backends != NULL ? w->backends->pg : NULL;
}

struct curl_client *server_worker_curl(struct server_worker *w)
{
    return w->backends != NULL ? w->backends->curl : NULL;
}

void *server_worker_module(struct server_worker *w, const struct server_module *m)
{
    const struct server_app *app = w->srv->app;
    for (size_t i = 0; w->module_state != NULL && i < app->nmodules; i++)
        if (app->modules[i] == m)
            return w->module_state[i];
    return NULL;
}
