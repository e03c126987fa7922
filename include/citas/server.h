/*
 * server: citasd's configuration, worker threads, routing and HTTP helpers.
 *
 * A `struct server` owns N workers. Each worker is one thread with its own h2o evloop, its own listening
 * sockets (SO_REUSEPORT), its own io_uring ring and its own backend clients; a request is handled start to
 * finish on the worker that accepted it, so handlers never share mutable state except through atomics.
 */
#ifndef CITAS_SERVER_H
#define CITAS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>

struct ring;
struct redis_client;
struct pg_pool;
struct curl_client;
struct server_worker;
struct server_config;

/* --- the application: routes and modules, given to server_start() by citasd's main --- */

#define SERVER_MAX_PARAMS 4
/* The {name} segments of a route pattern, in order (not decoded; each is one path segment). */
struct server_params {
    size_t n;
    h2o_iovec_t v[SERVER_MAX_PARAMS];
};
/* A handler answers the request now or later (see server_async_alloc()); it never blocks. */
typedef void (*server_handler)(h2o_req_t *req, const struct server_params *p);
/*
 * Admission classes. While a worker has admission_max_active requests waiting on a backend, a new request
 * waits in the worker (not started, no backend touched) until one of them is answered; the first class
 * goes first, then normal, then last, each in arrival order; a request that waited admission_promote_ms
 * goes before younger ones of any class. `always` never waits (probes, metrics).
 */
enum server_admit { SERVER_ADMIT_NORMAL = 0, SERVER_ADMIT_FIRST, SERVER_ADMIT_LAST, SERVER_ADMIT_ALWAYS };
struct server_route {
    const char *method;  /* "GET", "POST"...; GET routes also answer HEAD */
    const char *pattern; /* "/api/v1/offices/{code}": a {name} segment matches one non-empty path segment */
    const char *name;    /* label in /metrics */
    server_handler handler;
    enum server_admit admit;
};

/* A configuration key a module adds to citas.conf (overridable by CITAS_<KEY>). */
struct server_config_key {
    const char *name;
    const char *def;
};

/*
 * A module with per-worker state. Hooks run on the worker's own thread: worker_init after the worker's
 * backends exist and before it accepts connections (*state is the module's own); worker_stop at shutdown,
 * after the last connection closed (cancel timers, fail pending work: callbacks still run once);
 * worker_free once the ring has drained. Any hook may be NULL.
 */
struct server_metrics;
struct server_module {
    const char *name;
    const struct server_config_key *keys; /* terminated by {NULL, NULL}; may be NULL */
    /* Runs on every request worker, and on the background worker too when `background` is set (see
     * server_worker_is_background()). */
    int (*worker_init)(struct server_worker *w, void **state);
    void (*worker_stop)(void *state);
    void (*worker_free)(void *state);
    /* Adds the module's lines to /metrics with server_metrics_put(); runs on any worker's thread, so it
     * reads only process-wide atomics. May be NULL. */
    void (*metrics)(struct server_metrics *m);
    int background; /* the module has work for the background worker */
};

/* Appends Prometheus text to a /metrics answer. */
void server_metrics_put(struct server_metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct server_app {
    const struct server_route *routes;
    size_t nroutes;
    const struct server_module *const *modules;
    size_t nmodules;
};

/* Every key of ops/citas.conf; an environment variable CITAS_<KEY> (upper case) overrides the file. */
struct server_config {
    char *listen;                 /* host:port for HTTP/1.1 (and h2c upgrade); "" disables */
    char *tls_listen;             /* host:port for HTTPS with HTTP/2 over ALPN; "" disables */
    char *tls_cert, *tls_key;     /* PEM files, needed when tls_listen is set */
    unsigned workers;             /* worker threads; 0 = number of cores */
    size_t max_request_body;      /* bytes; larger bodies get 413 */
    size_t max_request_headers;   /* bytes of all request headers; more gets 431 */
    uint64_t io_timeout_ms;       /* idle client connections are closed after this */
    uint64_t shutdown_timeout_ms; /* on SIGTERM, in-flight requests get this long to finish */
    char *access_log;             /* path, "-" for stderr, "" for none */
    char *redis_host;
    unsigned redis_port;
    uint64_t redis_timeout_ms;
    char *pg_dsn;          /* libpq conninfo */
    unsigned pg_pool_size; /* connections per worker */
    uint64_t pg_timeout_ms;
    uint64_t health_interval_ms; /* how often each worker pings Redis and PostgreSQL for /readyz */
    unsigned ring_entries;
    unsigned background_worker; /* 1: one more worker thread, without listeners, for background work */
    unsigned background_nice;   /* that thread's nice value (0-19) */
    unsigned ring_poke_us; /* a request starting this long after the ring last flushed flushes it (0: off) */
    unsigned ring_poke_drain;       /* completions such a flush delivers at most */
    unsigned admission_max_active;  /* requests a worker runs at once before new ones wait (0: no limit) */
    uint64_t admission_max_wait_ms; /* a request that waited this long for admission gets 503 */
    uint64_t admission_promote_ms;  /* one that waited this long starts before younger ones of any class (0:
                                       never) */
    unsigned malloc_keep_mb;        /* freed heap each malloc arena keeps instead of trimming (0: glibc's) */
    /* keys declared by the application's modules, as strings */
    size_t nextra;
    struct server_config_extra {
        const char *name;
        char *value;
    } * extra;
};

/* Fills *cfg with defaults, then the file at `path` (NULL: none), then CITAS_* environment variables. The
 * keys of app's modules are accepted too (app may be NULL). Returns 0, or -1 with a message in err. Free with
 * server_config_free(). */
int server_config_load(struct server_config *cfg, const struct server_app *app, const char *path, char *err,
                       size_t errlen);
void server_config_free(struct server_config *cfg);
/* The value of a module's key (its default if not set), or NULL for an unknown key. */
const char *server_config_get(const struct server_config *cfg, const char *name);
/* The key as an unsigned number: 0, or -1 (with a message in err) if it is not one. */
int server_config_uint(const struct server_config *cfg, const char *name, uint64_t *out, char *err,
                       size_t errlen);

struct server;

/* Binds the listeners and starts the workers. The config and app must outlive the server. Returns 0, or -1
 * with a message in err. */
int server_start(const struct server_config *cfg, const struct server_app *app, struct server **out,
                 char *err, size_t errlen);

/* Graceful stop: stop accepting, let in-flight requests finish (up to shutdown_timeout_ms), close backends,
 * join the workers. Returns the number of connections that had to be dropped at the deadline. */
int server_stop(struct server *s);
void server_free(struct server *s);

/* --- for handlers (called on the worker thread that owns the request) --- */

struct server_worker *server_worker_of(h2o_req_t *req);
struct ring *server_worker_ring(struct server_worker *w);
unsigned server_worker_id(struct server_worker *w);
/* Whether `w` is the worker for the process's background work (the mail sender): the background worker
 * when background_worker is set (its id is the number of request workers), otherwise worker 0. */
int server_worker_is_background(struct server_worker *w);
const struct server_config *server_worker_config(struct server_worker *w);
/* The worker's backend clients (owned by the worker, valid until its modules' worker_free). */
struct redis_client *server_worker_redis(struct server_worker *w);
struct pg_pool *server_worker_pg(struct server_worker *w);
struct curl_client *server_worker_curl(struct server_worker *w);
/* A module's per-worker state (what its worker_init returned), or NULL. */
void *server_worker_module(struct server_worker *w, const struct server_module *m);

/*
 * Asynchronous handlers. server_async_alloc() returns zeroed state of `size` bytes tied to the request:
 * server_async_req() gives the request back while the client is still there and NULL once h2o has
 * disposed of it (client gone, connection closed); never touch the h2o_req_t after that. The handler
 * releases the state with server_async_release() when it has nothing pending any more; the memory is
 * freed once both the request is disposed and the state released. Calls on the worker's thread only.
 */
void *server_async_alloc(h2o_req_t *req, size_t size);
h2o_req_t *server_async_req(void *state);
void server_async_release(void *state);
/* Async states allocated and not yet released in the whole process (requests waiting on a backend), and
 * requests waiting for admission: how busy the server is, for background work that yields to requests (the
 * mail outbox, the audit chainer). Any thread. */
uint64_t server_async_in_flight(void);
/* 1 when server_async_in_flight() is at least `requests` (0: never busy): the test that background work
 * yielding to requests (the mail outbox, the audit chainer) makes. Any thread. */
int server_busy(uint64_t requests);

/* Request helpers. */
/* The client's address as text ("127.0.0.1", "::1"); buf needs 64 bytes. */
const char *server_client_ip(h2o_req_t *req, char *buf);
/* The value of cookie `name` or NULL; *len receives its length. */
const char *server_cookie(h2o_req_t *req, const char *name, size_t *len);
/* The value of request header `name` (lower case) or NULL. */
const char *server_header(h2o_req_t *req, const char *name, size_t *len);
/* The decoded value of query parameter `name` (allocated in the request pool) or NULL. */
const char *server_query(h2o_req_t *req, const char *name, size_t *len);
/* Days since 1970-01-01 of s[0..len) written YYYY-MM-DD (a real date, year 1970..9999), or -1. */
long server_parse_date(const char *s, size_t len);
/* The n ASCII digits at s as a number in *out: 0, or -1 when one of them is not a digit. */
int server_parse_digits(const char *s, size_t n, unsigned *out);
/* 1 if the request's Accept-Encoding takes `coding` (e.g. "gzip"; also "*"), not with q=0; else 0. */
int server_accepts_encoding(h2o_req_t *req, const char *coding);
/* Whether the request came over TLS. */
int server_is_tls(h2o_req_t *req);
/*
 * The request body parsed as a JSON object. On a missing or wrong Content-Type, malformed JSON or a
 * non-object it answers 415/400 itself and returns NULL (the handler just returns).
 */
struct json_value;
const struct json_value *server_json_body(h2o_req_t *req);
/* Adds a response header (name lower case; value copied). */
void server_add_header(h2o_req_t *req, const char *name, const char *value);

/* Responses. Bodies are copied into the request's pool. */
void server_send(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
void server_send_json(h2o_req_t *req, int status, const char *json, size_t len);
/* application/problem+json with type, title, status and detail (detail is JSON-escaped). */
void server_send_problem(h2o_req_t *req, int status, const char *title, const char *detail);
/* Appends s to b (its pool) as one quoted CSV field, then ',' or, when last, CRLF; a leading =, +, - or @
 * gets a ' in front so that spreadsheets do not run it as a formula. */
struct json_buf;
void server_csv_field(struct json_buf *b, const char *s, int last);

/* The operations handlers, for the application's route table. */
void server_on_healthz(h2o_req_t *req, const struct server_params *p);
void server_on_readyz(h2o_req_t *req, const struct server_params *p);
void server_on_metrics(h2o_req_t *req, const struct server_params *p);

#endif
