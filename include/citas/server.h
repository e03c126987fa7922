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
};

/* Fills *cfg with defaults, then the file at `path` (NULL: none), then CITAS_* environment variables.
 * Returns 0, or -1 with a message in err. Free with server_config_free(). */
int server_config_load(struct server_config *cfg, const char *path, char *err, size_t errlen);
void server_config_free(struct server_config *cfg);

struct server;

/* Binds the listeners and starts the workers. The config must outlive the server. Returns 0, or -1 with a
 * message in err. */
int server_start(const struct server_config *cfg, struct server **out, char *err, size_t errlen);

/* Graceful stop: stop accepting, let in-flight requests finish (up to shutdown_timeout_ms), close backends,
 * join the workers. Returns the number of connections that had to be dropped at the deadline. */
int server_stop(struct server *s);
void server_free(struct server *s);

/* --- for handlers (called on the worker thread that owns the request) --- */

struct server_worker;
struct server_worker *server_worker_of(h2o_req_t *req);
struct ring *server_worker_ring(struct server_worker *w);
unsigned server_worker_id(struct server_worker *w);

/* Responses. Bodies are copied into the request's pool. */
void server_send(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
void server_send_json(h2o_req_t *req, int status, const char *json, size_t len);
/* application/problem+json with type, title, status and detail (detail is JSON-escaped). */
void server_send_problem(h2o_req_t *req, int status, const char *title, const char *detail);

#endif
