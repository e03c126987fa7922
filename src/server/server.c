/* The server: shared h2o configuration, TLS, listening sockets, loggers, and the workers' lifecycle. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A listening socket on host:port with SO_REUSEPORT, so that every worker has its own. */
static int open_listener(const char *hostport, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
        return fail(err, errlen, "listen address '%s' is not host:port", hostport);
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (rc != 0)
        return fail(err, errlen, "listen address '%s': %s", hostport, gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return fail(err, errlen, "listen on %s: %s", hostport, strerror(e));
    }
    freeaddrinfo(ai);
    return fd;
}

static SSL_CTX *make_ssl_ctx(const struct server_config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return fail(err, errlen, "SSL_CTX_new failed"), NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        SSL_CTX_free(ctx);
        return fail(err, errlen, "TLS certificate %s / key %s: %s", cfg->tls_cert, cfg->tls_key, e), NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
}

/* Logger that feeds /metrics once a response has been sent completely. */
static void on_log_access(h2o_logger_t *self, h2o_req_t *req)
{
    (void)self;
    struct server_params p;
    int known;
    const struct server_route *r = route_match(req->method, req->path, &p, &known);
    double secs = 0;
    if (req->timestamps.response_end_at.tv_sec != 0)
        secs = (double)h2o_timeval_subtract(&req->timestamps.request_begin_at,
                                            &req->timestamps.response_end_at) /
               1e6;
    metrics_observe(route_index(r), req->res.status, secs);
}

static int configure(struct server *s, char *err, size_t errlen)
{
    const struct server_config *cfg = s->cfg;
    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("citas"));
    /* h2o answers 413 itself over HTTP/1 but refuses the stream over HTTP/2: let bodies up to four times the
     * limit reach server_on_req(), which answers 413 on every protocol, and keep h2o's cut-off above that */
    s->globalconf.max_request_entity_size = cfg->max_request_body * 4;
    s->globalconf.http1.req_timeout = cfg->io_timeout_ms;
    s->globalconf.http2.idle_timeout = cfg->io_timeout_ms;
    s->globalconf.http2.graceful_shutdown_timeout = cfg->shutdown_timeout_ms;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = server_on_req;
    h2o_logger_t *metrics = h2o_create_logger(path, sizeof(*metrics));
    metrics->log_access = on_log_access;
    if (cfg->access_log[0] != '\0') {
        const char *p = strcmp(cfg->access_log, "-") == 0 ? "/dev/stderr" : cfg->access_log;
        s->access_log = h2o_access_log_open_handle(p, NULL, H2O_LOGCONF_ESCAPE_APACHE);
        if (s->access_log == NULL)
            return fail(err, errlen, "cannot open access log %s", p);
        h2o_access_log_register(path, s->access_log); /* takes its own reference */
        h2o_mem_release_shared(s->access_log);
        s->access_log = NULL;
    }
    if (cfg->tls_listen[0] != '\0' && (s->ssl_ctx = make_ssl_ctx(cfg, err, errlen)) == NULL)
        return -1;
    return 0;
}

int server_start(const struct server_config *cfg, const struct server_app *app, struct server **out,
                 char *err, size_t errlen)
{
    struct server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return fail(err, errlen, "out of memory");
    s->cfg = cfg;
    s->app = app;
    router_init(app);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->nrequest_workers = cfg->workers != 0 ? cfg->workers : (unsigned)(cores > 0 ? cores : 1);
    s->nworkers = s->nrequest_workers + (cfg->background_worker ? 1 : 0);
    s->workers = calloc(s->nworkers, sizeof(*s->workers));
    if (s->workers == NULL || configure(s, err, errlen) != 0) {
        server_free(s);
        return -1;
    }
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct server_worker *w = &s->workers[i];
        w->srv = s;
        w->id = i;
        w->listen_fd = w->tls_fd = -1;
        w->background = i >= s->nrequest_workers;
        if (w->background)
            continue;
        if (cfg->listen[0] != '\0' && (w->listen_fd = open_listener(cfg->listen, err, errlen)) < 0)
            goto fail;
        if (cfg->tls_listen[0] != '\0' && (w->tls_fd = open_listener(cfg->tls_listen, err, errlen)) < 0)
            goto fail;
    }
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (worker_start(&s->workers[i]) != 0) {
            fail(err, errlen, "worker %u failed to start", i);
            for (unsigned j = 0; j < i; j++)
                worker_request_stop(&s->workers[j]);
            for (unsigned j = 0; j < i; j++)
                worker_join(&s->workers[j]);
            goto fail;
        }
        s->workers[i].thread_started = 1;
    }
    *out = s;
    return 0;
fail:
    server_free(s);
    return -1;
}

int server_stop(struct server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        worker_request_stop(&s->workers[i]);
    int dropped = 0;
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].thread_started) {
            dropped += worker_join(&s->workers[i]);
            s->workers[i].thread_started = 0;
        }
    return dropped;
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    int dropped = 0;
    for (unsigned i = 0; s->workers != NULL && i < s->nworkers; i++) {
        dropped += s->workers[i].dropped;
        worker_free(&s->workers[i]);
    }
    free(s->workers);
    if (dropped == 0) {
        h2o_config_dispose(&s->globalconf);
        if (s->ssl_ctx != NULL)
            SSL_CTX_free(s->ssl_ctx);
    }
    free(s);
}
