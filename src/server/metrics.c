/* Request counters and latency histograms (process-wide atomics) and their Prometheus text rendering. */
#include "internal.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define MAX_ROUTES 128 /* the route table plus one slot for "no route" */
#define NSTATUS    600

static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5};
#define NBUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

static struct {
    atomic_ullong by_status[MAX_ROUTES][NSTATUS];
    atomic_ullong buckets[MAX_ROUTES][NBUCKETS + 1];
    atomic_ullong sum_us[MAX_ROUTES];
} m;

static size_t slot(size_t route)
{
    return route == ROUTE_NONE || route >= MAX_ROUTES - 1 ? MAX_ROUTES - 1 : route;
}

void metrics_observe(size_t route, int status, double seconds)
{
    size_t r = slot(route);
    if (status < 100 || status >= NSTATUS)
        status = 0;
    atomic_fetch_add_explicit(&m.by_status[r][status], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < NBUCKETS && seconds > bucket_bounds[b])
        b++;
    atomic_fetch_add_explicit(&m.buckets[r][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m.sum_us[r], (unsigned long long)(seconds * 1e6), memory_order_relaxed);
}

struct server_metrics {
    h2o_mem_pool_t *pool;
    char *buf;
    size_t len, cap;
};

static void vput(struct server_metrics *o, const char *fmt, va_list ap0)
{
    for (;;) {
        va_list ap;
        va_copy(ap, ap0);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *nb = h2o_mem_alloc_pool(o->pool, cap);
        memcpy(nb, o->buf, o->len);
        o->buf = nb;
        o->cap = cap;
    }
}

static void put(struct server_metrics *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct server_metrics *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vput(o, fmt, ap);
    va_end(ap);
}

void server_metrics_put(struct server_metrics *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vput(m, fmt, ap);
    va_end(ap);
}

static const char *route_name(size_t r)
{
    const struct server_route *rt = route_at(r);
    return rt != NULL ? rt->name : "none";
}

static void render_requests(struct server_metrics *o)
{
    size_t nr = route_count();
    put(o, "# HELP citas_http_requests_total HTTP requests answered, by route and status.\n"
           "# TYPE citas_http_requests_total counter\n");
    for (size_t r = 0; r < MAX_ROUTES; r++) {
        if (r >= nr && r != MAX_ROUTES - 1)
            continue;
        for (int s = 0; s < NSTATUS; s++) {
            unsigned long long v = atomic_load_explicit(&m.by_status[r][s], memory_order_relaxed);
            if (v != 0)
                put(o, "citas_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_name(r), s, v);
        }
    }
    put(o, "# HELP citas_http_request_duration_seconds Time from request start to the end of the response.\n"
           "# TYPE citas_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < MAX_ROUTES; r++) {
        if (r >= nr && r != MAX_ROUTES - 1)
            continue;
        unsigned long long cum = 0;
        for (size_t b = 0; b <= NBUCKETS; b++) {
            cum += atomic_load_explicit(&m.buckets[r][b], memory_order_relaxed);
            if (b < NBUCKETS)
                put(o, "citas_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    route_name(r), bucket_bounds[b], cum);
            else
                put(o, "citas_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                    route_name(r), cum);
        }
        put(o, "citas_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_name(r),
            (double)atomic_load_explicit(&m.sum_us[r], memory_order_relaxed) / 1e6);
        put(o, "citas_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_name(r), cum);
    }
}

static void render_backends(struct server_metrics *o, struct server *srv)
{
    static const char *names[] = {"redis", "pg", "curl"};
    put(o, "# HELP citas_backend_errors_total Failed backend calls (error replies, timeouts, lost "
           "connections).\n"
           "# TYPE citas_backend_errors_total counter\n");
    for (int b = 0; b < 3; b++) {
        unsigned long long sum = 0;
        for (unsigned i = 0; i < srv->nworkers; i++) {
            struct worker_health *h = &srv->workers[i].health;
            sum += atomic_load(b == 0 ? &h->redis_errors : b == 1 ? &h->pg_errors : &h->curl_errors);
        }
        put(o, "citas_backend_errors_total{backend=\"%s\"} %llu\n", names[b], sum);
    }
    put(o, "# HELP citas_backend_inflight Backend calls waiting for an answer.\n"
           "# TYPE citas_backend_inflight gauge\n");
    for (int b = 0; b < 3; b++) {
        unsigned long long sum = 0;
        for (unsigned i = 0; i < srv->nworkers; i++) {
            struct worker_health *h = &srv->workers[i].health;
            sum += atomic_load(b == 0 ? &h->redis_inflight : b == 1 ? &h->pg_inflight : &h->curl_inflight);
        }
        put(o, "citas_backend_inflight{backend=\"%s\"} %llu\n", names[b], sum);
    }
    put(o,
        "# HELP citas_requests_waiting Requests of every worker waiting on a backend or for admission "
        "(the mail outbox yields while there are mail_busy_requests of them).\n"
        "# TYPE citas_requests_waiting gauge\n"
        "citas_requests_waiting %llu\n",
        (unsigned long long)server_async_in_flight());
    put(o, "# HELP citas_backend_up Whether each worker reached the backend at its last check.\n"
           "# TYPE citas_backend_up gauge\n");
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct worker_health *h = &srv->workers[i].health;
        put(o, "citas_backend_up{backend=\"redis\",worker=\"%u\"} %d\n", i, atomic_load(&h->redis_ok));
        put(o, "citas_backend_up{backend=\"pg\",worker=\"%u\"} %d\n", i, atomic_load(&h->pg_ok));
    }
}

/* One of the workers' ring histograms (the busy turns, or the submits' queue waits), summed over the workers.
 */
static void render_ring_histogram(struct server_metrics *o, struct server *srv, const char *name,
                                  const char *help, int turns)
{
    put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long n[RING_HIST_BUCKETS] = {0}, sum_us = 0;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct worker_hist *h =
            turns ? &srv->workers[i].health.ring_turns : &srv->workers[i].health.ring_queued;
        for (unsigned b = 0; b < RING_HIST_BUCKETS; b++)
            n[b] += atomic_load_explicit(&h->n[b], memory_order_relaxed);
        sum_us += atomic_load_explicit(&h->sum_us, memory_order_relaxed);
    }
    unsigned long long cum = 0;
    for (unsigned b = 0; b < RING_HIST_BUCKETS; b++) {
        cum += n[b];
        if (b < RING_HIST_BUCKETS - 1)
            put(o, "%s_bucket{le=\"%g\"} %llu\n", name, (double)ring_hist_bounds_us[b] / 1e6, cum);
        else
            put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
    }
    put(o, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum_us / 1e6, name, cum);
}

static void render_ring(struct server_metrics *o, struct server *srv)
{
    put(o,
        "# HELP citas_loop_pokes_total Submits of a worker's io_uring ring at the start of a request, in the "
        "middle of a loop turn (ring_poke_us).\n"
        "# TYPE citas_loop_pokes_total counter\n");
    unsigned long long pokes = 0;
    for (unsigned i = 0; i < srv->nworkers; i++)
        pokes += atomic_load_explicit(&srv->workers[i].health.ring_pokes, memory_order_relaxed);
    put(o, "citas_loop_pokes_total %llu\n", pokes);
    render_ring_histogram(o, srv, "citas_loop_queued_seconds",
                          "How long the oldest backend operation of a submit had waited for it.", 0);
    render_ring_histogram(
        o, srv, "citas_loop_turn_seconds",
        "Busy loop turns of the workers, from their first request or completion to their end: "
        "a backend reply that arrives during a turn waits for its end.",
        1);
}

/* Admission (admission.c), by class, summed over the workers. */
static void render_admission(struct server_metrics *o, struct server *srv)
{
    static const char *classes[ADMIT_CLASSES] = {"first", "normal", "last"};
    static const struct {
        const char *name, *type, *help;
    } series[ADMIT_SERIES] = {
        [ADMIT_WAITING] = {"citas_admission_waiting", "gauge",
                           "Requests waiting for admission (admission_max_active), by class."},
        [ADMIT_PARKED] = {"citas_admission_parked_total", "counter",
                          "Requests that had to wait for admission, by class."},
        [ADMIT_SHED] = {"citas_admission_shed_total", "counter",
                        "Requests answered 503 after waiting admission_max_wait_ms for admission, by class."},
        [ADMIT_PROMOTED] = {"citas_admission_promoted_total", "counter",
                            "Requests started ahead of a better class after waiting admission_promote_ms, by class."},
        [ADMIT_WAIT_US] = {"citas_admission_wait_seconds_total", "counter",
                           "Time requests spent waiting for admission, by class."},
    };
    for (unsigned k = 0; k < ADMIT_SERIES; k++) {
        put(o, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help, series[k].name,
            series[k].type);
        for (unsigned c = 0; c < ADMIT_CLASSES; c++) {
            unsigned long long sum = 0;
            for (unsigned i = 0; i < srv->nworkers; i++)
                sum += atomic_load_explicit(&srv->workers[i].health.admit[k][c], memory_order_relaxed);
            if (k == ADMIT_WAIT_US)
                put(o, "%s{class=\"%s\"} %.6f\n", series[k].name, classes[c], (double)sum / 1e6);
            else
                put(o, "%s{class=\"%s\"} %llu\n", series[k].name, classes[c], sum);
        }
    }
}

h2o_iovec_t metrics_render(struct server *srv, h2o_mem_pool_t *pool)
{
    struct server_metrics o = {.pool = pool, .cap = 16384};
    o.buf = h2o_mem_alloc_pool(pool, o.cap);
    render_requests(&o);
    render_backends(&o, srv);
    render_ring(&o, srv);
    render_admission(&o, srv);
    for (size_t i = 0; i < srv->app->nmodules; i++)
        if (srv->app->modules[i]->metrics != NULL)
            srv->app->modules[i]->metrics(&o);
    return h2o_iovec_init(o.buf, o.len);
}
