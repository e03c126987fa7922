/* pg internals shared by pool.c (calls, queue, timers, API) and conn.c (one libpq connection). */
#ifndef CITAS_PG_INTERNAL_H
#define CITAS_PG_INTERNAL_H

#include "citas/pg.h"

/* One statement of a call; sql and values live in the same allocation. */
struct pg_stmt {
    char *sql;
    int nparams;
    char **values;
    /* while in flight: its entry in the connection's prepared-statement cache (-1: sent unnamed), and
     * whether this call sent the Prepare */
    int prep_slot, prep_sent;
};

/* A query or a transaction: sent as its statements followed by one Sync. */
struct pg_call {
    struct pg_call *next;
    pg_cb cb; /* NULL once forgotten */
    void *ctx;
    uint64_t deadline; /* ring_now() ms */
    int nstmt, cap;
    struct pg_stmt **stmts;
    int add_error; /* first pg_tx_add() failure */
    /* while waiting for results */
    PGresult **results;
    int idx; /* statement whose result comes next */
    int got; /* result of stmts[idx] received, its terminating NULL not yet */
    /* the Prepares sent ahead of the statements: how many results of theirs are still to come, the
     * statement whose Prepare answers next, and the first one that failed (its result, kept) */
    int preps_left, prep_idx, in_prep, prep_failed;
    PGresult *prep_err;
};

struct pg_callq {
    struct pg_call *head, *tail;
    unsigned n;
};

/* One entry of a connection's prepared-statement cache (prep.c). */
struct pg_prep {
    char *sql; /* NULL: free slot */
    uint32_t hash;
    int nparams;
    unsigned id; /* the statement's name is "citas_<id>" */
    int dead;    /* its Prepare failed or the server lost it: never used again */
};

#define PG_PREP_SLOTS 512 /* open addressing, a power of two */
#define PG_PREP_MAX   256 /* entries (live or dead) per connection */

enum pg_conn_state {
    CONN_WAIT,       /* not connected; retry at retry_at */
    CONN_CONNECTING, /* PQconnectPoll in progress */
    CONN_READY,      /* pipeline mode, accepting calls */
    CONN_CLOSING,    /* closed; waiting for its cancelled polls to come back */
};

struct pg_conn {
    struct pg_pool *pool;
    PGconn *pq;
    enum pg_conn_state state;
    struct ring_op rd, wr;
    struct pg_callq inflight;
    uint64_t retry_at;         /* CONN_WAIT */
    uint64_t connect_deadline; /* CONN_CONNECTING */
    unsigned backoff_ms;
    int ever_ready;
    struct pg_prep *prep; /* PG_PREP_SLOTS entries once used, else NULL */
    unsigned nprep, prep_ids;
};

struct pg_pool {
    struct ring_defer defer; /* first: the defer callback finds the pool from it */
    struct ring *ring;
    char *conninfo;
    unsigned size, timeout_ms, max_pending, max_backoff_ms;
    struct pg_conn *conns;
    struct pg_callq pending; /* accepted, not yet sent */
    struct ring_op tick;
    struct pg_stats stats;
    unsigned ops_live; /* ring ops in flight (polls and the tick) */
    unsigned busy;     /* nesting of our own entry points */
    int defer_queued;
    int destroyed;
};

#define PG_TICK_MS          25
#define PG_BACKOFF_START_MS 50

/* pool.c */
void pg_callq_push(struct pg_callq *q, struct pg_call *c);
struct pg_call *pg_callq_pop(struct pg_callq *q);
void pg_call_finish(struct pg_pool *pool, struct pg_call *call, enum pg_status st, const char *message);
void pg_call_complete(struct pg_pool *pool, struct pg_call *call);
void pg_pool_schedule(struct pg_pool *pool);
void pg_pool_ensure_tick(struct pg_pool *pool);
void pg_pool_enter(struct pg_pool *pool);
/* Returns 1 if the pool was freed. */
int pg_pool_leave(struct pg_pool *pool);

/* conn.c */
void pg_conn_start(struct pg_conn *c);
/* Sends `call` on a ready connection; on failure the connection is reset and the call failed. */
void pg_conn_send(struct pg_conn *c, struct pg_call *call);
/* Closes the connection: in-flight calls fail with `st` (expired ones with PG_ERR_TIMEOUT). */
void pg_conn_reset(struct pg_conn *c, enum pg_status st, const char *message);
/* Ticks: retries, connect timeouts, expired calls. */
void pg_conn_tick(struct pg_conn *c, uint64_t now);

/* prep.c: the slot of `s` in c's cache (a new entry when none: *is_new = 1, its Prepare must be sent), or
 * -1 when it goes unnamed (no parameters, cache full, out of memory). */
int pg_prep_find(struct pg_conn *c, const struct pg_stmt *s, int *is_new);
void pg_prep_name(unsigned id, char *out, size_t cap);
void pg_prep_kill(struct pg_conn *c, int slot);
/* Forgets every entry (the server session they lived in is gone). */
void pg_prep_clear(struct pg_conn *c);

#endif
