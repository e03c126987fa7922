/*
 * curl: an asynchronous HTTP(S) and SMTP client of one worker, libcurl's multi interface driven by the
 * worker's ring.
 *
 * libcurl's socket callback is mapped onto one-shot ring_poll() operations (re-armed while libcurl wants
 * the socket, cancelled when it stops), its timer callback onto a ring_timeout(). Nothing blocks the loop:
 * name resolution uses libcurl's own resolver (threaded in Debian's build), whose wake-up socket is polled
 * like any other.
 *
 * Threads: a client belongs to the thread that runs its ring; every call and every callback happens there.
 * Call curl_client_global_init() once from main() before any thread starts, and
 * curl_client_global_cleanup() once at exit after every client is destroyed.
 *
 * Callbacks: a call that returns 0 has started a transfer whose callback runs exactly once, always from a
 * later ring turn (never from inside the call that started it), except for curl_client_cancel() and
 * curl_client_destroy(), which run it at once with error -ECANCELED. The result and everything it points
 * to are valid only during the callback.
 */
#ifndef CITAS_CURL_H
#define CITAS_CURL_H

#include <stddef.h>
#include <stdint.h>

struct ring;
struct curl_client;
/* One transfer in flight; valid from the call that started it until its callback starts. */
struct curl_client_transfer;

struct curl_client_options {
    size_t max_response_bytes;   /* a longer response body fails with -EMSGSIZE; 0: 1 MiB */
    uint32_t connect_timeout_ms; /* 0: 5000; never longer than a call's own timeout */
    const char *ca_file;         /* PEM bundle for TLS peers; NULL: the system store. Copied. */
    const char *user_agent;      /* NULL: "citas/0.1". Copied. */
};

struct curl_client_result {
    /*
     * 0 when the exchange completed (whatever the HTTP status), otherwise a negative errno:
     * -ETIMEDOUT (connect or total timeout), -ECONNREFUSED (could not connect), -EHOSTUNREACH (name not
     * resolved), -EMSGSIZE (response over max_response_bytes), -ECANCELED (curl_client_cancel() or
     * curl_client_destroy()), -EPROTO (TLS, protocol or server refusal, e.g. an SMTP 5xx), -ENOMEM.
     */
    int error;
    int curl_code;          /* libcurl's CURLcode, 0 when error is 0 or -ECANCELED */
    long status;            /* last HTTP status or SMTP reply code seen, 0 if none */
    const char *error_text; /* human-readable cause; "" when error is 0 */
    const char *body;       /* HTTP response body, NUL-terminated (may hold NULs); "" for SMTP */
    size_t body_len;
};

typedef void (*curl_client_cb)(const struct curl_client_result *res, void *ctx);

enum curl_client_starttls {
    CURL_CLIENT_STARTTLS_NONE,     /* plain SMTP (smtps:// URLs use TLS anyway) */
    CURL_CLIENT_STARTTLS_TRY,      /* STARTTLS if the server offers it, plain otherwise */
    CURL_CLIENT_STARTTLS_REQUIRED, /* fail (-EPROTO) unless STARTTLS succeeds */
};

struct curl_client_smtp {
    const char *url;      /* "smtp://host:port" or "smtps://host:port" */
    const char *user;     /* NULL: no AUTH */
    const char *password; /* with user */
    enum curl_client_starttls starttls;
    uint32_t timeout_ms; /* whole transaction; 0: 30000 */
};

struct curl_client_stats {
    uint64_t started;   /* transfers whose start call returned 0 */
    uint64_t finished;  /* callbacks run, successful or not */
    uint64_t failed;    /* of those, callbacks with error != 0 (cancelled ones included) */
    uint64_t in_flight; /* started - finished */
};

/* Process-wide libcurl initialisation: once, from main() before threads. 0 or -EIO. */
int curl_client_global_init(void);
void curl_client_global_cleanup(void);

/*
 * Creates a client on `ring` (options may be NULL). Returns 0 and the client in *out, or a negative errno.
 * The caller owns the client and destroys it, on the ring's thread, before destroying the ring.
 */
int curl_client_create(struct ring *ring, const struct curl_client_options *opts, struct curl_client **out);

/*
 * Aborts every transfer (each callback runs once, now, with -ECANCELED) and frees the client. Not from
 * inside one of its own callbacks. Accepts NULL. Polls and the timer still in the ring are cancelled and
 * free their few bytes when their completions arrive: run the ring a turn or two (ring_run_once()) before
 * ring_destroy(), or that memory is lost.
 */
void curl_client_destroy(struct curl_client *c);

/*
 * POSTs `body` (copied; binary-safe) to `url` (http:// or https://) with the given Content-Type, e.g.
 * "application/x-www-form-urlencoded". timeout_ms bounds the whole exchange (0: 10000). On 0 the
 * transfer is started and, if `out` is not NULL, *out is its handle (for curl_client_cancel()).
 * On a negative errno nothing was started and cb never runs.
 */
int curl_client_post(struct curl_client *c, const char *url, const char *content_type, const void *body,
                     size_t body_len, uint32_t timeout_ms, curl_client_cb cb, void *ctx,
                     struct curl_client_transfer **out);

/*
 * Sends one message: envelope sender `from` and recipients `rcpt[0..nrcpt-1]` (bare addresses),
 * `message` the complete RFC 5322 text (headers, blank line, body; copied; CRLF line ends, sent as
 * given; dots at line starts are escaped by libcurl). The transfer succeeds only if every recipient is
 * accepted. Same return and callback contract as curl_client_post().
 */
int curl_client_mail(struct curl_client *c, const struct curl_client_smtp *server, const char *from,
                     const char *const *rcpt, size_t nrcpt, const char *message, size_t len,
                     curl_client_cb cb, void *ctx, struct curl_client_transfer **out);

/*
 * Aborts a transfer whose caller went away: its callback runs before this returns, with -ECANCELED, and
 * the handle is invalid afterwards. Only for handles whose callback has not started yet.
 */
void curl_client_cancel(struct curl_client_transfer *t);

void curl_client_get_stats(const struct curl_client *c, struct curl_client_stats *out);

#endif
