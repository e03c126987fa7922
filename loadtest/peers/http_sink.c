/* A tiny HTTP/1.1 server recording requests: see http_sink.h. */
#include "http_sink.h"
#include "peer_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS (64u << 10)
#define MAX_BODY    (64u << 20)

struct http_sink {
    struct peer_server *srv;
    http_sink_handler handler;
    void *ctx;
    int delay_ms;
    unsigned long count;
    pthread_mutex_t lock; /* guards last */
    struct http_sink_request last;
    int has_last;
};

static void default_handler(const struct http_sink_request *req, struct http_sink_response *res, void *ctx)
{
    (void)ctx;
    char buf[512];
    int n =
        snprintf(buf, sizeof(buf), "{\"ok\":true,\"method\":\"%s\",\"path\":\"%.200s\",\"body_bytes\":%zu}",
                 req->method, req->path, req->body_len);
    res->body = strdup(buf);
    res->body_len = res->body ? (size_t)n : 0;
}

int http_sink_header(const struct http_sink_request *req, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = req->headers;
    while (p != NULL && *p) {
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            snprintf(out, cap, "%.*s", (int)(eol - v), v);
            return 0;
        }
        p = eol + 2;
    }
    return -ENOENT;
}

static int copy_request(struct http_sink_request *dst, const struct http_sink_request *src)
{
    *dst = *src;
    dst->headers = malloc(src->headers_len + 1);
    dst->body = malloc(src->body_len + 1);
    if (dst->headers == NULL || dst->body == NULL) {
        http_sink_request_free(dst);
        return -ENOMEM;
    }
    memcpy(dst->headers, src->headers, src->headers_len + 1);
    memcpy(dst->body, src->body, src->body_len + 1);
    return 0;
}

void http_sink_request_free(struct http_sink_request *req)
{
    free(req->headers);
    free(req->body);
    req->headers = req->body = NULL;
}

static int respond(int fd, int status, const char *ctype, const char *body, size_t len, int close_after)
{
    char head[512];
    const char *reason = status == 200  ? "OK"
                         : status < 300 ? "Success"
                         : status < 500 ? "Client Error"
                                        : "Error";
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n",
                     status, reason, ctype, len, close_after ? "close" : "keep-alive");
    if (peer_write_all(fd, head, (size_t)n) != 0)
        return -1;
    return len ? peer_write_all(fd, body, len) : 0;
}

/* Reads and answers one request; 0 to keep the connection, -1 to close it. */
static int serve_one(struct http_sink *k, struct peer_server *srv, struct peer_reader *rd, char *line,
                     size_t cap)
{
    struct http_sink_request req = {0};
    int keep = 1, rc = -1;
    ssize_t n;
    do
        n = peer_read_line(rd, line, cap);
    while (n == 0); /* tolerate blank lines between requests */
    char version[16];
    if (n < 0 || sscanf(line, "%15s %2047s %15s", req.method, req.path, version) != 3)
        return -1;
    if (strcmp(version, "HTTP/1.0") == 0)
        keep = 0;
    size_t cap_h = 1024;
    req.headers = malloc(cap_h);
    if (req.headers == NULL)
        return -1;
    req.headers[0] = '\0';
    long long clen = 0;
    int chunked = 0;
    for (;;) {
        n = peer_read_line(rd, line, cap);
        if (n < 0 || req.headers_len + (size_t)n + 3 > MAX_HEADERS)
            goto out;
        if (n == 0)
            break;
        if (req.headers_len + (size_t)n + 3 > cap_h) {
            while (req.headers_len + (size_t)n + 3 > cap_h)
                cap_h *= 2;
            char *h = realloc(req.headers, cap_h);
            if (h == NULL)
                goto out;
            req.headers = h;
        }
        memcpy(req.headers + req.headers_len, line, (size_t)n);
        memcpy(req.headers + req.headers_len + (size_t)n, "\r\n", 3);
        req.headers_len += (size_t)n + 2;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = atoll(line + 15);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
            chunked = 1;
        else if (strncasecmp(line, "Connection:", 11) == 0 && strcasestr(line + 11, "close"))
            keep = 0;
    }
    if (chunked || clen < 0 || clen > (long long)MAX_BODY) {
        respond(rd->fd, chunked ? 411 : 413, "text/plain", "", 0, 1);
        goto out;
    }
    req.body_len = (size_t)clen;
    req.body = malloc(req.body_len + 1);
    if (req.body == NULL || peer_read_exact(rd, req.body, req.body_len) != 0)
        goto out;
    req.body[req.body_len] = '\0';

    __atomic_add_fetch(&k->count, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&k->lock);
    if (k->has_last)
        http_sink_request_free(&k->last);
    k->has_last = copy_request(&k->last, &req) == 0;
    pthread_mutex_unlock(&k->lock);

    int delay = __atomic_load_n(&k->delay_ms, __ATOMIC_SEQ_CST);
    if (delay > 0 && peer_server_sleep(srv, delay) != 0)
        goto out;
    struct http_sink_response res = {.status = 200, .content_type = "application/json"};
    k->handler(&req, &res, k->ctx);
    int wrc = respond(rd->fd, res.status, res.content_type, res.body ? res.body : "",
                      res.body ? res.body_len : 0, !keep);
    free(res.body);
    rc = wrc == 0 && keep ? 0 : -1;
out:
    http_sink_request_free(&req);
    return rc;
}

static void on_conn(struct peer_server *srv, int fd, void *ctx)
{
    struct peer_reader *rd = malloc(sizeof(*rd));
    char *line = malloc(MAX_HEADERS);
    if (rd != NULL && line != NULL) {
        rd->fd = fd;
        rd->off = rd->len = 0;
        while (serve_one(ctx, srv, rd, line, MAX_HEADERS) == 0) {
        }
    }
    free(rd);
    free(line);
}

int http_sink_start(int port, http_sink_handler handler, void *ctx, struct http_sink **out)
{
    struct http_sink *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return -ENOMEM;
    k->handler = handler ? handler : default_handler;
    k->ctx = ctx;
    pthread_mutex_init(&k->lock, NULL);
    int rc = peer_server_start(port, on_conn, k, &k->srv);
    if (rc != 0) {
        pthread_mutex_destroy(&k->lock);
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int http_sink_port(const struct http_sink *s)
{
    return peer_server_port(s->srv);
}

void http_sink_set_delay(struct http_sink *s, int ms)
{
    __atomic_store_n(&s->delay_ms, ms, __ATOMIC_SEQ_CST);
}

unsigned long http_sink_count(const struct http_sink *s)
{
    return __atomic_load_n(&s->count, __ATOMIC_SEQ_CST);
}

int http_sink_last(struct http_sink *s, struct http_sink_request *out)
{
    pthread_mutex_lock(&s->lock);
    int rc = s->has_last ? copy_request(out, &s->last) : -ENOENT;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void http_sink_stop(struct http_sink *s)
{
    if (s == NULL)
        return;
    peer_server_stop(s->srv);
    if (s->has_last)
        http_sink_request_free(&s->last);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
