/*
 * http_sink: a tiny HTTP/1.1 server for tests and load tests. It reads each request (Content-Length
 * bodies; keep-alive), remembers the last one, waits the configured delay and answers through a handler
 * (default: 200 application/json {"ok":true,"method":"...","path":"...","body_bytes":N}).
 * Listens on 127.0.0.1 only; one thread per connection, so the handler may run on several threads at once.
 */
#ifndef CITAS_HTTP_SINK_H
#define CITAS_HTTP_SINK_H

#include <stddef.h>

struct http_sink;

struct http_sink_request {
    char method[16];
    char path[2048];
    char *headers; /* the header lines as received, each ending in "\r\n", NUL-terminated */
    size_t headers_len;
    char *body; /* NUL-terminated (may hold NULs) */
    size_t body_len;
};

struct http_sink_response {
    int status;               /* preset to 200 */
    const char *content_type; /* preset to "application/json" */
    char *body;               /* malloc()ed by the handler, freed by the sink; NULL: empty */
    size_t body_len;
};

/* Builds the answer to one request; runs on the connection's thread. */
typedef void (*http_sink_handler)(const struct http_sink_request *req, struct http_sink_response *res,
                                  void *ctx);

/* Starts on port (0: any free port); handler NULL: the default JSON answer. 0 or a negative errno. */
int http_sink_start(int port, http_sink_handler handler, void *ctx, struct http_sink **out);
int http_sink_port(const struct http_sink *s);
/* Delay before each answer from now on (cut short by http_sink_stop()). */
void http_sink_set_delay(struct http_sink *s, int ms);
/* Requests read so far (answered or not). */
unsigned long http_sink_count(const struct http_sink *s);
/* A copy of the last request read: 0, or -ENOENT if none yet. Free with http_sink_request_free(). */
int http_sink_last(struct http_sink *s, struct http_sink_request *out);
void http_sink_request_free(struct http_sink_request *req);
/* The value of header `name` (case-insensitive) copied into out[cap]; 0, or -ENOENT. */
int http_sink_header(const struct http_sink_request *req, const char *name, char *out, size_t cap);
void http_sink_stop(struct http_sink *s); /* accepts NULL */

#endif
