/* Private to the server module: the server, its workers, routing and metrics. */
#ifndef CITAS_SERVER_INTERNAL_H
#define CITAS_SERVER_INTERNAL_H

#include "citas/ring.h"
#include "citas/server.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#define ADMIT_CLASSES 3 /* the classes that can wait: first, normal, last (server_admit) */
/* What /metrics shows of admission, per class: requests waiting now, parked so far, answered 503, and the
 * microseconds they waited. */
enum admit_series { ADMIT_WAITING, ADMIT_PARKED, ADMIT_SHED, ADMIT_PROMOTED, ADMIT_WAIT_US, ADMIT_SERIES };

/* Backend health and load of one worker, published for /readyz and /metrics (written by the worker). */
struct worker_health {
    atomic_int redis_ok, pg_ok;
    atomic_ullong redis_checked_at, pg_checked_at; /* ms, CLOCK_MONOTONIC */
    atomic_ullong redis_errors, pg_errors, curl_errors;
    atomic_ullong redis_inflight, pg_inflight, curl_inflight;
    /* copies of the worker's ring counters, refreshed every loop turn */
    atomic_ullong ring_pokes;
    struct worker_hist {
        atomic_ullong n[RING_HIST_BUCKETS];
        atomic_ullong sum_us;
    } ring_queued, ring_turns;
    /* admission (admission.c): one counter per series (enum admit_series) and class (first, normal, last) */
    atomic_ullong admit[ADMIT_SERIES][ADMIT_CLASSES];
};

struct backends; /* the worker's Redis client and PostgreSQL pool (backends.c) */

struct server_worker {
    struct server *srv;
    unsigned id;
    pthread_t thread;
    int thread_started;
    sem_t started; /* posted by the worker once init_rc is set */
    int init_rc;
    h2o_context_t ctx; /* server_worker_of() maps a request back to its worker through this */
    h2o_evloop_t *loop;
    struct ring *ring;
    int background; /* the background worker: no listeners, only modules with work for it */
    int listen_fd, tls_fd;
    h2o_socket_t *listen_sock, *tls_sock;
    h2o_accept_ctx_t accept_plain, accept_tls;
    int wake_fd; /* eventfd: the main thread asks for shutdown through it */
    h2o_socket_t *wake_sock;
    atomic_int stop_requested;
    int stopping;
    uint64_t stop_deadline;
    int dropped;
    struct backends *backends;
    void **module_state;                       /* one per app module */
    unsigned async_active;                     /* async states of this worker not yet released */
    h2o_linklist_t admit_queue[ADMIT_CLASSES]; /* requests waiting for admission, oldest first */
    struct worker_health health;
};

struct server {
    const struct server_config *cfg;
    const struct server_app *app;
    h2o_globalconf_t globalconf;
    SSL_CTX *ssl_ctx;
    h2o_access_log_filehandle_t *access_log;
    unsigned nworkers; /* every worker thread: the request workers, then the background worker */
    unsigned nrequest_workers;
    struct server_worker *workers;
};

/* router.c: matching against the application's route table (set once, before the workers start) */
void router_init(const struct server_app *app);
const struct server_route *route_match(h2o_iovec_t method, h2o_iovec_t path, struct server_params *p,
                                       int *path_known);
size_t route_count(void);
const struct server_route *route_at(size_t i);
#define ROUTE_NONE ((size_t)-1) /* metrics index of requests that matched no route */
size_t route_index(const struct server_route *r);

/* http.c: the one h2o handler (limits, then the route table) */
int server_on_req(h2o_handler_t *self, h2o_req_t *req);

/* admission.c: requests wait while the worker has admission_max_active of them on a backend */
void admission_init(struct server_worker *w);
/* Parks the request if it has to wait (returns 1; admission_run() starts it later), else returns 0. */
int admission_park(struct server_worker *w, h2o_req_t *req, const struct server_route *r,
                   const struct server_params *p);
/* Starts waiting requests while there is room, and answers 503 to those that waited too long. Runs after
 * every loop turn; when the worker is stopping, starts them all. */
void admission_run(struct server_worker *w);

/* http.c: requests that wait for admission count in server_async_in_flight() too */
void server_waiting_add(int delta);

/* metrics.c */
void metrics_observe(size_t route, int status, double seconds);
/* Renders the Prometheus text exposition of everything into buf (allocated in pool). */
h2o_iovec_t metrics_render(struct server *srv, h2o_mem_pool_t *pool);

/* worker.c: the lifecycle of one worker thread, driven by server.c */
int worker_start(struct server_worker *w);
void worker_request_stop(struct server_worker *w);
int worker_join(struct server_worker *w); /* returns connections dropped at the deadline */
void worker_free(struct server_worker *w);

/* backends.c: the worker's clients, its health checks, and the modules' per-worker hooks */
int backends_start(struct server_worker *w);
void backends_stop(struct server_worker *w);
/* true once every pending backend call has completed after backends_stop() */
int backends_idle(struct server_worker *w);
void backends_free(struct server_worker *w);

uint64_t server_monotonic_ms(void);

#endif
