/* Private to the audit module. */
#ifndef CITAS_AUDIT_INTERNAL_H
#define CITAS_AUDIT_INTERNAL_H

#include "citas/audit.h"
#include "citas/ring.h"

#include <stdatomic.h>
#include <stdint.h>

/*
 * The chainer (chain.c): on worker 0, every interval_ms it runs audit_chain_pending(batch) on the worker's
 * pool, at once again while batches come back full. While server_async_in_flight() is at least
 * busy_requests (0: never) it skips its turns, but never for busy_max_ms or longer since it last ran.
 * Owned by the module's worker state; runs on that worker's thread only.
 */
struct audit_chainer;
/* Starts the timer. dsn is copied (for the final synchronous run at shutdown). NULL when out of memory. */
struct audit_chainer *audit_chainer_start(struct ring *ring, struct pg_pool *pg, const char *dsn,
                                          uint64_t interval_ms, unsigned batch, uint64_t busy_requests,
                                          uint64_t busy_max_ms);
/* At shutdown (no client served any more): stops the timer, detaches its pending query, and chains what
 * is pending with one short synchronous connection (connect 2 s, statements 5 s), so a clean stop leaves
 * nothing pending that this worker's instance committed before; then, with sign_key (an Ed25519 private
 * key, may be NULL), signs the new head. */
void audit_chainer_stop(struct audit_chainer *c, void *sign_key);
/* After the ring delivered the cancelled timer. Accepts NULL. */
void audit_chainer_free(struct audit_chainer *c);

/* Process-wide counters for /metrics. */
extern atomic_uint_fast64_t audit_chained_total, audit_chain_errors, audit_chain_deferred;

#endif
