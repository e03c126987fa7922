/*
 * citasctl rebuild-redis [--office CODE] [--dsn DSN] [--redis HOST:PORT]: recomputes every Redis key of the
 * booking contract from PostgreSQL (booking_rebuild()), the same code citasd's worker 0 runs at start-up.
 * Safe on a live system: seats under a live hold stay held. Redis: env CITAS_REDIS_HOST / CITAS_REDIS_PORT
 * override --redis (default 127.0.0.1:6379).
 */
#include "ctl.h"

#include "citas/booking.h"
#include "citas/pg.h"
#include "citas/redis.h"
#include "citas/ring.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct result {
    int done;
    char err[256];
    struct booking_rebuild_stats st;
};

static void on_done(const char *err, const struct booking_rebuild_stats *st, void *ctx)
{
    struct result *r = ctx;
    r->done = 1;
    if (err != NULL)
        snprintf(r->err, sizeof(r->err), "%s", err);
    r->st = *st;
}

int ctl_rebuild_redis(int argc, char **argv)
{
    const char *office = NULL, *dsn = NULL, *redis = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--office") == 0 && i + 1 < argc)
            office = argv[++i];
        else if (strcmp(argv[i], "--dsn") == 0 && i + 1 < argc)
            dsn = argv[++i];
        else if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc)
            redis = argv[++i];
        else {
            fprintf(stderr,
                    "usage: citasctl rebuild-redis [--office CODE] [--dsn DSN] [--redis HOST:PORT]\n");
            return 2;
        }
    }
    char host[256] = "127.0.0.1";
    int port = 6379;
    if (redis != NULL) {
        const char *colon = strrchr(redis, ':');
        if (colon == NULL || colon == redis || (size_t)(colon - redis) >= sizeof(host)) {
            fprintf(stderr, "citasctl: --redis HOST:PORT expected\n");
            return 2;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - redis), redis);
        port = atoi(colon + 1);
    }
    const char *eh = getenv("CITAS_REDIS_HOST"), *ep = getenv("CITAS_REDIS_PORT");
    if (eh != NULL && eh[0] != '\0')
        snprintf(host, sizeof(host), "%s", eh);
    if (ep != NULL && ep[0] != '\0')
        port = atoi(ep);
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "citasctl: bad Redis port\n");
        return 2;
    }

    h2o_evloop_t *loop = h2o_evloop_create();
    struct ring *ring = NULL;
    struct pg_pool *pg = NULL;
    struct redis_client *rc = NULL;
    int status = 1;
    if (ring_create(loop, 1024, &ring) != 0) {
        fprintf(stderr, "citasctl: io_uring unavailable\n");
        h2o_evloop_destroy(loop);
        return 1;
    }
    struct pg_pool_config pcfg = {.conninfo = ctl_dsn(dsn), .size = 2, .timeout_ms = 60000};
    struct redis_config rcfg = {.host = host, .port = port, .timeout_ms = 10000};
    struct result res = {0};
    if (pg_pool_create(ring, &pcfg, &pg) != 0) {
        fprintf(stderr, "citasctl: cannot create the PostgreSQL pool\n");
    } else if (redis_client_create(ring, &rcfg, &rc) != 0) {
        fprintf(stderr, "citasctl: cannot reach Redis at %s:%d\n", host, port);
    } else if (booking_rebuild(pg, rc, office, on_done, &res) != 0) {
        fprintf(stderr, "citasctl: out of memory\n");
    } else {
        while (!res.done)
            ring_run_once(ring, 100);
        if (res.err[0] != '\0') {
            fprintf(stderr, "citasctl: rebuild-redis failed: %s\n", res.err);
        } else {
            printf("rebuilt %" PRIu64 " offices, %" PRIu64 " windows, %" PRIu64 " slots, %" PRIu64
                   " free seats, %" PRIu64 " active appointments\n",
                   res.st.offices, res.st.windows, res.st.slots, res.st.free_seats, res.st.persons);
            status = 0;
        }
    }
    redis_client_destroy(rc);
    pg_pool_destroy(pg);
    for (int i = 0; i < 5; i++)
        ring_run_once(ring, 10);
    ring_destroy(ring);
    h2o_evloop_destroy(loop);
    return status;
}
