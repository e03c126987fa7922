/*
 * Admission: a worker runs at most admission_max_active requests that wait on a backend. A request that
 * arrives while it is at that limit is parked: not started, so it touches no backend and takes no CPU,
 * until an async state is released. Parked requests start by class (first, normal, last), each class in
 * arrival order; one parked admission_promote_ms or longer goes before younger ones of any class. In a release minute that keeps the booking routes' round trips short while logins wait,
 * instead of every request waiting behind every other one in Redis's, PostgreSQL's and the CPU's queues.
 */
#include "internal.h"

#include <stdatomic.h>

struct parked {
    h2o_linklist_t link; /* in the worker's queue of its class while parked */
    h2o_req_t *req;
    struct server_worker *w;
    const struct server_route *route;
    struct server_params params;
    uint64_t since_ms;
    unsigned cls;
};

static unsigned class_of(enum server_admit a)
{
    return a == SERVER_ADMIT_FIRST ? 0 : a == SERVER_ADMIT_LAST ? 2 : 1;
}

static void count(atomic_ullong *c, long long d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (unsigned long long)d,
                          memory_order_relaxed);
}

void admission_init(struct server_worker *w)
{
    for (unsigned c = 0; c < ADMIT_CLASSES; c++)
        h2o_linklist_init_anchor(&w->admit_queue[c]);
}

static void unpark(struct parked *p)
{
    h2o_linklist_unlink(&p->link);
    count(&p->w->health.admit[ADMIT_WAITING][p->cls], -1);
    server_waiting_add(-1);
    count(&p->w->health.admit[ADMIT_WAIT_US][p->cls], (long long)(h2o_now(p->w->loop) - p->since_ms) * 1000);
}

/* The client went away while its request was parked. */
static void on_parked_disposed(void *mem)
{
    struct parked *p = mem;
    if (h2o_linklist_is_linked(&p->link))
        unpark(p);
}

int admission_park(struct server_worker *w, h2o_req_t *req, const struct server_route *r,
                   const struct server_params *params)
{
    unsigned max = w->srv->cfg->admission_max_active;
    if (max == 0 || r->admit == SERVER_ADMIT_ALWAYS || w->stopping)
        return 0;
    unsigned cls = class_of(r->admit);
    int ahead = 0; /* someone of this class or a better one is already waiting: keep the order */
    for (unsigned c = 0; c <= cls; c++)
        ahead |= !h2o_linklist_is_empty(&w->admit_queue[c]);
    if (w->async_active < max && !ahead)
        return 0;
    struct parked *p = h2o_mem_alloc_shared(&req->pool, sizeof(*p), on_parked_disposed);
    *p = (struct parked){
        .req = req, .w = w, .route = r, .params = *params, .since_ms = h2o_now(w->loop), .cls = cls};
    h2o_linklist_insert(&w->admit_queue[cls], &p->link);
    count(&w->health.admit[ADMIT_WAITING][cls], 1);
    server_waiting_add(1);
    count(&w->health.admit[ADMIT_PARKED][cls], 1);
    return 1;
}

static struct parked *head(h2o_linklist_t *q)
{
    return H2O_STRUCT_FROM_MEMBER(struct parked, link, q->next);
}

/*
 * The parked request to start next: the oldest of those parked admission_promote_ms or longer, whatever
 * their class (so that logins wait a bounded time during a long surge); else the head of the best class.
 */
static struct parked *next_to_start(struct server_worker *w, uint64_t now)
{
    uint64_t promote = w->srv->cfg->admission_promote_ms;
    struct parked *best = NULL, *oldest = NULL;
    for (unsigned c = 0; c < ADMIT_CLASSES; c++) {
        h2o_linklist_t *q = &w->admit_queue[c];
        if (h2o_linklist_is_empty(q))
            continue;
        struct parked *p = head(q);
        if (best == NULL)
            best = p;
        if (promote > 0 && now - p->since_ms >= promote && (oldest == NULL || p->since_ms < oldest->since_ms))
            oldest = p;
    }
    if (oldest != NULL && oldest != best)
        count(&w->health.admit[ADMIT_PROMOTED][oldest->cls], 1);
    return oldest != NULL ? oldest : best;
}

void admission_run(struct server_worker *w)
{
    unsigned max = w->srv->cfg->admission_max_active;
    uint64_t now = h2o_now(w->loop), limit = w->srv->cfg->admission_max_wait_ms;
    for (unsigned c = 0; c < ADMIT_CLASSES; c++) {
        h2o_linklist_t *q = &w->admit_queue[c];
        while (!h2o_linklist_is_empty(q) && limit > 0 && now - head(q)->since_ms >= limit) {
            struct parked *p = head(q);
            unpark(p);
            count(&w->health.admit[ADMIT_SHED][c], 1);
            server_add_header(p->req, "retry-after", "5");
            server_send_problem(p->req, 503, "Server busy",
                                "The server is busy with other requests. Try again in a few seconds.");
        }
    }
    while (w->async_active < max || w->stopping) {
        struct parked *p = next_to_start(w, now);
        if (p == NULL)
            return;
        /* the handler may answer at once: take what it needs out of the request's pool first */
        h2o_req_t *req = p->req;
        const struct server_route *r = p->route;
        struct server_params params = p->params;
        unpark(p);
        r->handler(req, &params);
    }
}
