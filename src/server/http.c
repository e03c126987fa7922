/* HTTP helpers and the single h2o handler that applies limits and dispatches to the route table. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

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
    struct route_params params;
    int path_known;
    const struct route *r = route_match(req->method, req->path, &params, &path_known);
    if (r == NULL) {
        if (path_known)
            server_send_problem(req, 405, "Method not allowed",
                                "This resource does not support that method.");
        else
            server_send_problem(req, 404, "Not found", "There is nothing at this address.");
        return 0;
    }
    r->handler(req, &params);
    return 0;
}
