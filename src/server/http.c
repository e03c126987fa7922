/* HTTP helpers and the single h2o handler that applies limits and dispatches to the route table. */
#include "internal.h"
#include "citas/json.h"
#include "citas/ring.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

struct server_worker *server_worker_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct server_worker, ctx, req->conn->ctx);
}

struct ring *server_worker_ring(struct server_worker *w)
{
    return w->ring;
}

unsigned server_worker_id(struct server_worker *w)
{
    return w->id;
}

int server_worker_is_background(struct server_worker *w)
{
    return w->background || (w->id == 0 && w->srv->nworkers == w->srv->nrequest_workers);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

void server_send(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    h2o_send_inline(req, body, len);
}

void server_send_json(h2o_req_t *req, int status, const char *json, size_t len)
{
    server_send(req, status, "application/json; charset=utf-8", json, len);
}

void server_csv_field(struct json_buf *b, const char *s, int last)
{
    size_t n = strlen(s);
    char *tmp = h2o_mem_alloc_pool(b->pool, 2 * n + 6);
    size_t k = 0;
    tmp[k++] = '"';
    if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')
        tmp[k++] = '\'';
    for (; *s != '\0'; s++) {
        if (*s == '"')
            tmp[k++] = '"';
        tmp[k++] = *s;
    }
    tmp[k++] = '"';
    tmp[k++] = last ? '\r' : ',';
    if (last)
        tmp[k++] = '\n';
    json_add_raw(b, NULL, tmp, k);
    b->need_comma = 0;
}

/* Appends s to out as the inside of a JSON string; returns the bytes written (out has room for 6*len). */
static size_t json_escape(char *out, const char *s)
{
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    return (size_t)(o - out);
}

void server_send_problem(h2o_req_t *req, int status, const char *title, const char *detail)
{
    size_t cap = 128 + 6 * (strlen(title) + strlen(detail));
    char *buf = h2o_mem_alloc_pool(&req->pool, cap);
    size_t n = (size_t)sprintf(buf, "{\"type\":\"about:blank\",\"title\":\"");
    n += json_escape(buf + n, title);
    n += (size_t)sprintf(buf + n, "\",\"status\":%d,\"detail\":\"", status);
    n += json_escape(buf + n, detail);
    n += (size_t)sprintf(buf + n, "\"}\n");
    server_send(req, status, "application/problem+json", buf, n);
}

static size_t header_bytes(h2o_req_t *req)
{
    size_t total = req->path.len + req->authority.len;
    for (size_t i = 0; i < req->headers.size; i++)
        total += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return total;
}

/* The one h2o handler: limits first, then the route table. */
int server_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    struct server_worker *w = server_worker_of(req);
    /* in a long loop turn, let what earlier requests queued leave and their replies come in */
    ring_poke(w->ring);
    if (header_bytes(req) > w->srv->cfg->max_request_headers) {
        server_send_problem(req, 431, "Request header fields too large",
                            "The request headers exceed the limit.");
        return 0;
    }
    if (req->entity.base != NULL && req->entity.len > w->srv->cfg->max_request_body) {
        server_send_problem(req, 413, "Payload too large", "The request body exceeds the limit.");
        return 0;
    }
    if (req->path.len == 0 || req->path.base[0] != '/') {
        server_send_problem(req, 400, "Bad request", "The request target must be an absolute path.");
        return 0;
    }
    struct server_params params;
    int path_known;
    const struct server_route *r = route_match(req->method, req->path, &params, &path_known);
    if (r == NULL) {
        if (path_known)
            server_send_problem(req, 405, "Method not allowed",
                                "This resource does not support that method.");
        else
            server_send_problem(req, 404, "Not found", "There is nothing at this address.");
        return 0;
    }
    if (admission_park(w, req, r, &params))
        return 0;
    r->handler(req, &params);
    return 0;
}

const struct server_config *server_worker_config(struct server_worker *w)
{
    return w->srv->cfg;
}

/* --- asynchronous handlers --- */

struct async_hdr {
    h2o_req_t *req; /* NULL once h2o disposed of the request */
    struct server_worker *w;
    int released;
    _Alignas(max_align_t) char state[];
};

/* Async states allocated and not yet released, and requests waiting for admission, every worker together
 * (server_async_in_flight()). */
static _Atomic uint64_t async_in_flight;

uint64_t server_async_in_flight(void)
{
    return atomic_load_explicit(&async_in_flight, memory_order_relaxed);
}

int server_busy(uint64_t requests)
{
    return requests > 0 && server_async_in_flight() >= requests;
}

void server_waiting_add(int delta)
{
    atomic_fetch_add_explicit(&async_in_flight, (uint64_t)(int64_t)delta, memory_order_relaxed);
}

static void on_req_disposed(void *p)
{
    struct async_hdr *h = *(struct async_hdr **)p;
    h->req = NULL;
    if (h->released)
        free(h);
}

void *server_async_alloc(h2o_req_t *req, size_t size)
{
    struct async_hdr *h = calloc(1, sizeof(*h) + size);
    if (h == NULL)
        h2o_fatal("out of memory");
    h->req = req;
    h->w = server_worker_of(req);
    h->w->async_active++;
    atomic_fetch_add_explicit(&async_in_flight, 1, memory_order_relaxed);
    /* a pointer-sized token in the request's pool tells us when h2o disposes of the request */
    struct async_hdr **token = h2o_mem_alloc_shared(&req->pool, sizeof(*token), on_req_disposed);
    *token = h;
    return h->state;
}

static struct async_hdr *hdr_of(void *state)
{
    return (struct async_hdr *)((char *)state - offsetof(struct async_hdr, state));
}

h2o_req_t *server_async_req(void *state)
{
    return hdr_of(state)->req;
}

void server_async_release(void *state)
{
    struct async_hdr *h = hdr_of(state);
    h->released = 1;
    h->w->async_active--;
    atomic_fetch_sub_explicit(&async_in_flight, 1, memory_order_relaxed);
    if (h->req == NULL)
        free(h);
}

/* --- request helpers --- */

const char *server_client_ip(h2o_req_t *req, char *buf)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    buf[0] = '\0';
    if (len == 0)
        return buf;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, 64);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, 64);
    return buf;
}

const char *server_header(h2o_req_t *req, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h2o_memis(h->name->base, h->name->len, name, nlen)) {
            if (len != NULL)
                *len = h->value.len;
            /* h2o's values are not NUL-terminated: copy into the pool */
            char *v = h2o_mem_alloc_pool(&req->pool, h->value.len + 1);
            memcpy(v, h->value.base, h->value.len);
            v[h->value.len] = '\0';
            return v;
        }
    }
    return NULL;
}

/* One Accept-Encoding element "coding[;q=x]": 1 if it names `coding` (or "*") with a q above 0. */
static int coding_accepted(const char *e, size_t n, const char *coding)
{
    while (n > 0 && (*e == ' ' || *e == '\t'))
        e++, n--;
    size_t name = 0;
    while (name < n && e[name] != ';' && e[name] != ' ' && e[name] != '\t')
        name++;
    if (!(name == strlen(coding) && strncasecmp(e, coding, name) == 0) && !(name == 1 && e[0] == '*'))
        return 0;
    const char *q = memchr(e + name, '=', n - name);
    if (q == NULL)
        return 1;
    /* q=0, q=0.0, q=0.00...: refused; anything else is a weight above 0 */
    size_t i = (size_t)(q + 1 - e);
    while (i < n && (e[i] == ' ' || e[i] == '\t'))
        i++;
    if (i >= n || e[i] != '0')
        return 1;
    for (i++; i < n && (e[i] == '.' || e[i] == '0'); i++)
        ;
    return i < n && e[i] >= '1' && e[i] <= '9';
}

int server_accepts_encoding(h2o_req_t *req, const char *coding)
{
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT_ENCODING, i)) != -1;) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        size_t off = 0;
        while (off <= v->len) {
            const char *comma = memchr(v->base + off, ',', v->len - off);
            size_t end = comma != NULL ? (size_t)(comma - v->base) : v->len;
            if (coding_accepted(v->base + off, end - off, coding))
                return 1;
            off = end + 1;
        }
    }
    return 0;
}

const char *server_cookie(h2o_req_t *req, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h->name != &H2O_TOKEN_COOKIE->buf)
            continue;
        const char *p = h->value.base, *end = p + h->value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *semi = memchr(p, ';', (size_t)(end - p));
            if (semi == NULL)
                semi = end;
            if (eq != NULL && eq < semi && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
                size_t vlen = (size_t)(semi - eq - 1);
                char *v = h2o_mem_alloc_pool(&req->pool, vlen + 1);
                memcpy(v, eq + 1, vlen);
                v[vlen] = '\0';
                if (len != NULL)
                    *len = vlen;
                return v;
            }
            p = semi;
        }
    }
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *server_query(h2o_req_t *req, const char *name, size_t *len)
{
    if (req->query_at == SIZE_MAX)
        return NULL;
    size_t nlen = strlen(name);
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (amp == NULL)
            amp = end;
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        const char *kend = eq != NULL ? eq : amp;
        if ((size_t)(kend - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq != NULL ? eq + 1 : amp;
            char *out = h2o_mem_alloc_pool(&req->pool, (size_t)(amp - v) + 1), *o = out;
            for (; v < amp; v++) {
                int hi, lo;
                if (*v == '+') {
                    *o++ = ' ';
                } else if (*v == '%' && amp - v >= 3 && (hi = hexval(v[1])) >= 0 &&
                           (lo = hexval(v[2])) >= 0) {
                    *o++ = (char)(hi * 16 + lo);
                    v += 2;
                } else {
                    *o++ = *v;
                }
            }
            *o = '\0';
            if (len != NULL)
                *len = (size_t)(o - out);
            return out;
        }
        p = amp + 1;
    }
    return NULL;
}

int server_is_tls(h2o_req_t *req)
{
    return req->scheme == &H2O_URL_SCHEME_HTTPS;
}

const struct json_value *server_json_body(h2o_req_t *req)
{
    size_t ctlen;
    const char *ct = server_header(req, "content-type", &ctlen);
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] != '\0' && ct[16] != ';')) {
        server_send_problem(req, 415, "Unsupported media type", "Send the request body as application/json.");
        return NULL;
    }
    const char *err = "empty body";
    size_t at = 0;
    const struct json_value *v = req->entity.base != NULL
                                     ? json_parse(&req->pool, req->entity.base, req->entity.len, &err, &at)
                                     : NULL;
    if (v == NULL) {
        char detail[160];
        snprintf(detail, sizeof(detail), "The body is not valid JSON: %s at byte %zu.", err, at);
        server_send_problem(req, 400, "Malformed JSON", detail);
        return NULL;
    }
    if (v->type != JSON_OBJECT) {
        server_send_problem(req, 400, "Malformed JSON", "The body must be a JSON object.");
        return NULL;
    }
    return v;
}

void server_add_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    char *n = h2o_mem_alloc_pool(&req->pool, nlen), *v = h2o_mem_alloc_pool(&req->pool, vlen);
    memcpy(n, name, nlen);
    memcpy(v, value, vlen);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nlen, 1, NULL, v, vlen);
}
