/*
 * mail: the outbox (table mail_outbox, sql/002_mail.sql) and the SMTP sender that empties it.
 *
 * Messages are checked when they are queued and stored as their template's parameters (a JSON object in
 * mail_outbox.params); the sender renders them from the template in the citizen's language (Spanish or
 * English, plain text and HTML) when it sends them. Rows stored rendered (subject and bodies, as before
 * sql/012, or written by hand) are sent as they are. Queue them with mail_tx_add() inside the transaction
 * that makes them true (a booking and its confirmation commit together, or neither does), or with
 * mail_enqueue() on their own. Nothing is sent from the request path.
 *
 * The sender runs on one worker's ring (one per process is enough): every poll_ms it claims a batch of due
 * rows (FOR UPDATE SKIP LOCKED, so several citasd instances may share the table), builds MIME messages
 * and sends them through the curl client's SMTP, then marks each row 'sent' (many rows per statement), or
 * 'pending' again with an exponential backoff and the error in last_error, or 'failed' after max_attempts.
 * A full batch is followed at once by the next claim, while its transfers run, up to max_in_flight. A row
 * claimed by a process that died is claimed again when its lease expires.
 */
#ifndef CITAS_MAIL_H
#define CITAS_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "citas/curl.h"
#include "citas/pg.h"
#include "citas/ring.h"

/*
 * Templates and the parameters each needs (keys; values are UTF-8 without control characters, at most
 * MAIL_PARAM_MAX bytes). "name" (the citizen's name, for the greeting) is optional everywhere.
 *   MAIL_VERIFY_CODE        code (the one-time code that verifies a new account), minutes (its validity)
 *   MAIL_LOGIN_CODE         code (the one-time code that finishes a login), minutes
 *   MAIL_BOOKING_CONFIRMED  code (appointment code), office, when (office-local date and time, as shown
 *                           to the citizen), procedure; optional: address (the office's)
 *   MAIL_BOOKING_CANCELLED  code, office, when, procedure; optional: reason
 */
enum mail_kind {
    MAIL_VERIFY_CODE,
    MAIL_LOGIN_CODE,
    MAIL_BOOKING_CONFIRMED,
    MAIL_BOOKING_CANCELLED,
    MAIL_KIND_COUNT
};

#define MAIL_PARAM_MAX      1024
#define MAIL_ATTACHMENT_MAX (1024 * 1024)

struct mail_param {
    const char *key;
    const char *value;
};

/* A rendered message; its three strings are owned by it (NUL-terminated UTF-8). */
struct mail_rendered {
    char *subject; /* one line */
    char *text;    /* plain text, LF line ends */
    char *html;    /* a complete HTML document; every parameter HTML-escaped */
};

/*
 * Renders `kind` in `lang` ("es" or "en"). Returns 0 and fills *out (free with mail_rendered_free()), or
 * -EINVAL (unknown kind or language, a required parameter missing, a value too long, not UTF-8 or holding
 * control characters) or -ENOMEM. Unknown keys are ignored. Pure and thread-safe.
 */
int mail_render(enum mail_kind kind, const char *lang, const struct mail_param *params, size_t n,
                struct mail_rendered *out);
void mail_rendered_free(struct mail_rendered *r); /* accepts NULL and a zeroed struct */
/* mail_render()'s checks alone (what it would refuse with -EINVAL): 0 or -EINVAL. */
int mail_check(enum mail_kind kind, const char *lang, const struct mail_param *params, size_t n);
/* The kind whose mail_kind_name() is `name`: 0, or -EINVAL. */
int mail_kind_parse(const char *name, enum mail_kind *out);

/* The template's name as stored in mail_outbox.kind ("verify_code"...); NULL for an unknown kind. */
const char *mail_kind_name(enum mail_kind kind);

struct mail_attachment {
    const char *name;         /* file name: printable ASCII without quotes, / or \, e.g. "cita.ics" */
    const char *content_type; /* printable ASCII, e.g. "text/calendar; charset=UTF-8; method=PUBLISH" */
    const void *data;
    size_t len; /* at most MAIL_ATTACHMENT_MAX */
};

struct mail_message {
    const char *to;   /* one bare address, local@domain */
    const char *lang; /* "es" or "en" */
    enum mail_kind kind;
    const struct mail_param *params;
    size_t nparams;
    const struct mail_attachment *attachment; /* NULL: none */
};

/*
 * Checks `m` and adds its INSERT to `tx`: the message is queued if and only if the transaction commits.
 * Returns 0; -EINVAL (see mail_render(), or a bad address or attachment): nothing was added and the tx
 * is unchanged; or -ENOMEM, which also makes the tx's commit fail (as pg_tx_add()). Everything is copied.
 */
int mail_tx_add(struct pg_tx *tx, const struct mail_message *m);

/*
 * Many messages as one INSERT (over unnest()) in a transaction, for callers that queue a mail per row of a
 * batch (the booking group's confirmations). mail_batch_add() checks and appends `m`: 0, or -EINVAL (as
 * mail_tx_add(); the message is left out, the batch is unchanged) or -ENOMEM. mail_batch_tx_add() adds the
 * INSERT of every message appended so far to `tx` (nothing when there is none), with pg_tx_add()'s result,
 * or returns -ENOMEM without adding it if the batch ran out of memory: then do not commit the tx.
 * The batch owns copies of everything; free it with mail_batch_free() (after mail_batch_tx_add(), which
 * copies the parameters too).
 */
struct mail_batch {
    struct pg_array col[7];
    size_t n;
};
void mail_batch_init(struct mail_batch *b);
int mail_batch_add(struct mail_batch *b, const struct mail_message *m);
int mail_batch_tx_add(struct pg_tx *tx, struct mail_batch *b);
void mail_batch_free(struct mail_batch *b);

/*
 * Checks and queues `m` on its own. Returns 0 (cb runs exactly once, as for pg_query(), with the INSERT's
 * reply; cb may be NULL) or a negative errno (-EINVAL as above, or pg_query()'s), when cb never runs.
 */
int mail_enqueue(struct pg_pool *pg, const struct mail_message *m, pg_cb cb, void *ctx);

struct mail_config {
    const char *smtp_url;      /* "smtp://127.0.0.1:2525" or "smtps://..."; required */
    const char *smtp_user;     /* NULL or "": no AUTH */
    const char *smtp_password; /* with smtp_user */
    enum curl_client_starttls smtp_starttls;
    uint32_t smtp_timeout_ms; /* one SMTP transaction; 0: 30000 */
    const char *from;         /* From header, "Name <addr>" or "addr"; NULL: "citas <no-reply@citas.local>" */
    uint32_t poll_ms;         /* outbox poll interval; 0: 200 */
    uint32_t batch;           /* rows claimed per claim; 0: 16 */
    uint32_t max_in_flight;   /* SMTP transfers at once; a full batch is followed by the next claim while
                                 its transfers run, up to this many; 0: 256 */
    uint32_t max_attempts;    /* then 'failed'; 0: 8 */
    uint32_t retry_base_ms;   /* backoff after attempt k: base * 2^(k-1), capped; 0: 5000 */
    uint32_t retry_max_ms;    /* backoff cap; 0: 600000 (10 min) */
    uint32_t lease_ms;        /* a row 'sending' longer than this is claimed again; 0: 120000 */
    /* Yielding to requests (outbox sender only): while busy(busy_arg) says so, at most busy_max_in_flight
     * transfers at once (and claims of at most that many rows), so that a burst of confirmations is sent
     * at a trickle while the server answers a surge, and at full speed once it is over. busy NULL or
     * busy_max_in_flight 0: never. */
    int (*busy)(void *busy_arg);
    void *busy_arg;
    uint32_t busy_max_in_flight;
    /* For the first busy_pause_ms of a busy spell, no claim at all (transfers already running finish):
     * a release's first seconds spend nothing on confirmations (claim, SMTP, 'sent' mark), which wait
     * seconds, not minutes; then the trickle. 0: the trickle at once. */
    uint32_t busy_pause_ms;
};

struct mail_sender_stats {
    uint64_t sent;        /* messages accepted by the SMTP server */
    uint64_t failed;      /* rows given up ('failed') */
    uint64_t retries;     /* attempts that failed and were rescheduled */
    uint64_t pending;     /* rows 'pending' or 'sending' at the last count (about once a second) */
    uint64_t in_flight;   /* messages of this sender being sent now */
    uint64_t db_errors;   /* outbox queries that failed (the next poll tries again) */
    uint64_t busy_claims; /* claims made under the busy cap (mail_config.busy) */
    uint64_t busy_pauses; /* polls that claimed nothing in a busy spell's first busy_pause_ms */
};

struct mail_sender;

/*
 * Creates a sender on `ring` using `pg` and `curl` (which must outlive it) and starts polling. The
 * config's strings are copied. Returns 0 and the sender in *out, or -EINVAL (no smtp_url, a From without
 * an address) or -ENOMEM. Owned by the caller; used only from the ring's thread.
 */
int mail_sender_create(struct ring *ring, struct pg_pool *pg, struct curl_client *curl,
                       const struct mail_config *cfg, struct mail_sender **out);

/*
 * Stops the sender: transfers in flight are cancelled (their rows stay 'sending' and are sent again after
 * the lease), pending outbox queries are forgotten. Call before destroying the pool and the curl client;
 * its timer frees itself when the ring delivers its cancellation (run the ring a turn before
 * ring_destroy()). Accepts NULL.
 */
void mail_sender_destroy(struct mail_sender *s);

void mail_sender_get_stats(const struct mail_sender *s, struct mail_sender_stats *out);

/* "none", "try" or "required" (configuration text) into *out; 0 or -EINVAL. */
int mail_starttls_parse(const char *s, enum curl_client_starttls *out);

/*
 * The quick queue (src/mail/quick.c), for short-lived messages such as one-time codes: no outbox row, no
 * PostgreSQL commit. mail_quick_enqueue() renders `m` (no attachment) and RPUSHes it onto the Redis list
 * MAIL_QUICK_LIST; a drainer (mail_quick_create(), one per process, on worker 0 in citasd) pops and sends
 * it at once. Delivery is at most once: an entry lost with Redis or with a process that dies after popping
 * it is not sent (the citizen asks for a new code). Returns 0 (cb, which may be NULL, runs once from a
 * later turn with 0 when queued or -EIO) or -EINVAL (see mail_render(), a bad address, an attachment),
 * -ENOMEM, or redis_command()'s errors, when cb never runs.
 */
#define MAIL_QUICK_LIST "citas:mail:quick"
struct redis_client;
typedef void (*mail_quick_cb)(int rc, void *ctx);
int mail_quick_enqueue(struct redis_client *redis, const struct mail_message *m, mail_quick_cb cb, void *ctx);

struct mail_quick_stats {
    uint64_t sent, failed, retries, in_flight, redis_errors;
};
struct mail_quick;
/* The drainer: pops up to cfg->batch entries at a time while fewer than cfg->max_in_flight transfers run
 * (poll_ms between pops when the list was short); transient failures are pushed back until max_attempts.
 * Same ownership and thread rules as mail_sender_create(). */
int mail_quick_create(struct ring *ring, struct redis_client *redis, struct curl_client *curl,
                      const struct mail_config *cfg, struct mail_quick **out);
/* Cancels transfers in flight (those messages are lost) and frees it; accepts NULL. */
void mail_quick_destroy(struct mail_quick *q);
void mail_quick_get_stats(const struct mail_quick *q, struct mail_quick_stats *out);

/*
 * citasd glue (src/mail/module.c): worker 0 runs the sender, configured from the keys smtp_url, smtp_user,
 * smtp_password, smtp_starttls, smtp_timeout_ms, mail_from, mail_poll_ms, mail_batch, mail_max_in_flight,
 * mail_max_attempts, mail_retry_base_ms, mail_retry_max_ms, mail_lease_ms, mail_busy_requests and
 * mail_busy_max_in_flight (see ops/citas.conf); the sender is busy while server_async_in_flight() is at
 * least mail_busy_requests.
 * Handlers enqueue with mail_enqueue(server_worker_pg(w), ...).
 */
struct server_module;
extern const struct server_module mail_server_module;

#endif
