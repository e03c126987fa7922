/* Operations endpoints: /healthz (the process answers), /readyz (every worker, the background one too,
 * reaches Redis and PostgreSQL), /metrics (Prometheus text). */
#include "internal.h"

#include <stdio.h>
#include <time.h>

uint64_t server_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void server_on_healthz(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    server_send_json(req, 200, H2O_STRLIT("{\"status\":\"ok\"}\n"));
}

/* A worker's check counts if it succeeded and is recent: a worker that stopped checking is not ready. */
static int fresh(atomic_int *ok, atomic_ullong *at, uint64_t now, uint64_t max_age)
{
    return atomic_load(ok) && now - atomic_load(at) <= max_age;
}

void server_on_readyz(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct server *srv = server_worker_of(req)->srv;
    uint64_t now = server_monotonic_ms();
    uint64_t max_age =
        3 * srv->cfg->health_interval_ms + srv->cfg->redis_timeout_ms + srv->cfg->pg_timeout_ms;
    size_t cap = 64 + 80 * (size_t)srv->nworkers;
    char *buf = h2o_mem_alloc_pool(&req->pool, cap);
    int ready = 1;
    size_t n = (size_t)snprintf(buf, cap, "{\"workers\":[");
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct worker_health *h = &srv->workers[i].health;
        int r = fresh(&h->redis_ok, &h->redis_checked_at, now, max_age);
        int g = fresh(&h->pg_ok, &h->pg_checked_at, now, max_age);
        ready &= r && g;
        n += (size_t)snprintf(buf + n, cap - n, "%s{\"worker\":%u,%s\"redis\":%s,\"pg\":%s}", i ? "," : "", i,
                              srv->workers[i].background ? "\"background\":true," : "", r ? "true" : "false",
                              g ? "true" : "false");
    }
    n += (size_t)snprintf(buf + n, cap - n, "],\"ready\":%s}\n", ready ? "true" : "false");
    if (!ready)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    server_send_json(req, ready ? 200 : 503, buf, n);
}

void server_on_metrics(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct server *srv = server_worker_of(req)->srv;
    h2o_iovec_t body = metrics_render(srv, &req->pool);
    server_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", body.base, body.len);
}
