/*
 * pg: asynchronous PostgreSQL client on the ring (libpq nonblocking + pipeline mode).
 *
 * A pool holds a few connections of one worker and is used only from that worker's thread. Queries are
 * copied when they are issued and sent at the end of the loop turn (ring_defer), spread over the ready
 * connections and pipelined on each: every query is followed by its own Sync, so a failing query fails
 * only itself. Readiness comes from one-shot ring_poll()s on the connection sockets; nothing blocks.
 *
 * SQL text and parameters are separate: parameters are sent out of band ($1, $2... in text format), never
 * spliced into the SQL. There is deliberately no API that takes a ready-made SQL string with values in it.
 * A statement with parameters is prepared once per connection (a named server-side statement, parsed and
 * planned once) and executed by name from then on, transparently: keep SQL texts constant and put what
 * varies in parameters. A bounded number of texts per connection is cached; the rest run unnamed.
 *
 * Every accepted call's callback runs exactly once, from a later loop turn (never from inside pg_query()),
 * with one of the statuses below. Broken connections fail their pending calls and are reconnected with
 * backoff; calls waiting for a connection wait until their timeout.
 *
 * Connection strings are libpq conninfo. Use a numeric host (hostaddr, 127.0.0.1) or a socket directory:
 * libpq resolves host names synchronously in PQconnectStart().
 */
#ifndef CITAS_PG_H
#define CITAS_PG_H

#include <stdint.h>
#include <libpq-fe.h>

#include "citas/ring.h"

struct pg_pool;
struct pg_tx;

enum pg_status {
    PG_OK = 0,
    PG_ERR_QUERY,    /* the server refused a statement: see sqlstate ("23505" unique violation...) */
    PG_ERR_CONN,     /* the connection failed or was reset: the statement may or may not have run */
    PG_ERR_TIMEOUT,  /* no answer in time; the connection was reset: the statement may or may not have run */
    PG_ERR_SHUTDOWN, /* the pool was destroyed first */
};

/* What a callback gets. Everything it points to is valid only during the callback. */
struct pg_reply {
    enum pg_status status;
    /* PG_OK: the results of the statements, in order (one for pg_query). PG_ERR_QUERY: the result of the
     * failing statement is results[failed]. Otherwise nresults is 0. Never PQclear() them. */
    const PGresult *const *results;
    int nresults;
    int failed;           /* index of the failing statement for PG_ERR_QUERY, else -1 */
    const char *sqlstate; /* five characters for PG_ERR_QUERY (when the server sent one), else "" */
    const char *message;  /* human-readable error, "" for PG_OK */
};

typedef void (*pg_cb)(const struct pg_reply *reply, void *ctx);

struct pg_pool_config {
    const char *conninfo;    /* libpq connection string (copied) */
    unsigned size;           /* connections; 0 means 2 */
    unsigned timeout_ms;     /* default per-call timeout; 0 means 5000 */
    unsigned max_pending;    /* calls queued or in flight before pg_query() says -EAGAIN; 0 means 100000 */
    unsigned max_backoff_ms; /* reconnect backoff ceiling (starts at 50 ms, doubles); 0 means 2000 */
};

struct pg_stats {
    uint64_t queries;         /* calls accepted (a transaction counts once) */
    uint64_t errors;          /* callbacks with a status other than PG_OK */
    uint64_t timeouts;        /* of which PG_ERR_TIMEOUT */
    uint64_t in_flight;       /* calls accepted whose callback has not run yet */
    uint64_t reconnects;      /* successful connections after a connection was lost or reset */
    uint64_t connects_failed; /* connection attempts that failed */
    uint64_t max_pipeline;    /* most calls ever waiting for results on one connection at once */
    uint64_t prepared;        /* statements prepared (named, once per connection; see pg_query()) */
    unsigned connections_ready;
};

/*
 * Creates a pool on `ring` and starts connecting. Returns 0 and the pool in *out, or a negative errno
 * (-EINVAL without a conninfo). The creator owns the pool and frees it with pg_pool_destroy().
 */
int pg_pool_create(struct ring *ring, const struct pg_pool_config *cfg, struct pg_pool **out);

/*
 * Fails every pending call with PG_ERR_SHUTDOWN (callbacks run inside this call), closes the connections
 * and frees the pool. Polls still in flight are cancelled; the memory behind them is released when the
 * ring delivers those cancellations, so keep running the ring for a turn or two before ring_destroy().
 * May be called from a pg callback. Accepts NULL.
 */
void pg_pool_destroy(struct pg_pool *pool);

/*
 * Runs one parameterised statement: `sql` with $1..$nparams bound to `values` (text format; a NULL entry
 * is SQL NULL). The strings are copied. Uses the pool's default timeout. Returns 0 (the callback will run
 * exactly once), -EAGAIN when max_pending calls are outstanding, -ENOMEM, or -EINVAL.
 */
int pg_query(struct pg_pool *pool, const char *sql, int nparams, const char *const *values, pg_cb cb,
             void *ctx);

/* As pg_query() with its own timeout in milliseconds. */
int pg_query_timeout(struct pg_pool *pool, unsigned timeout_ms, const char *sql, int nparams,
                     const char *const *values, pg_cb cb, void *ctx);

/*
 * Transactions: statements queued with pg_tx_add() are sent together on one connection in one round
 * trip, followed by one Sync, as one implicit transaction: all commit at the Sync, or the first failing
 * statement rolls back the whole transaction and the callback gets PG_ERR_QUERY with `failed` set.
 * Transaction-control statements (BEGIN, COMMIT...) must not be added.
 *
 * pg_tx_begin() returns NULL when out of memory. pg_tx_add() copies the statement and returns 0, -ENOMEM
 * or -EINVAL (a failed add makes the commit fail with the same error). pg_tx_commit() always consumes
 * the tx; it returns 0 (the callback will run exactly once) or a negative errno (it will not).
 * pg_tx_abort() drops a tx that was not committed; accepts NULL. A tx must be committed or aborted
 * before its pool is destroyed.
 */
struct pg_tx *pg_tx_begin(struct pg_pool *pool);
int pg_tx_add(struct pg_tx *tx, const char *sql, int nparams, const char *const *values);
void pg_tx_set_timeout(struct pg_tx *tx, unsigned timeout_ms);
int pg_tx_commit(struct pg_tx *tx, pg_cb cb, void *ctx);
void pg_tx_abort(struct pg_tx *tx);

/*
 * Detaches every pending call made with `ctx` (for a request that goes away): their callbacks will not
 * run. Statements already sent may still execute. Returns the number of calls detached.
 */
unsigned pg_forget(struct pg_pool *pool, void *ctx);

void pg_get_stats(const struct pg_pool *pool, struct pg_stats *out);

/*
 * A text-format array literal, to pass many rows as one parameter ($1::text[], $2::bigint[]... under
 * unnest()): every element is quoted and escaped, so any string is safe. pg_array_init() starts an empty
 * array; pg_array_add() appends an element (NULL: SQL NULL); pg_array_text() gives the literal ("{}" when
 * empty), valid until the next add or the free, or NULL when memory ran out. The caller owns the array
 * and frees it with pg_array_free().
 */
struct pg_array {
    char *buf;
    size_t len, cap;
    int n, oom;
};
void pg_array_init(struct pg_array *a);
void pg_array_add(struct pg_array *a, const char *v);
const char *pg_array_text(struct pg_array *a);
void pg_array_free(struct pg_array *a);

/* Short English name of a status, for logs. */
const char *pg_status_str(enum pg_status st);

/* The primary message of the statement that failed (PG_ERR_QUERY), without libpq's "ERROR:" decoration;
 * NULL when there is none. */
const char *pg_error_message(const struct pg_reply *r);
/* The text of a result field, or NULL when it is SQL NULL. */
const char *pg_text(const PGresult *r, int row, int col);

#endif
