/*
 * The citasd module, on worker 0 only: the chainer (chain.c) moves pending records into the chain every
 * audit_chain_interval_ms, and the signer signs the chain head every audit_sign_interval_ms. One signer
 * tick reads the last record and whether it is signed; if the chain grew it signs here (Ed25519 takes
 * microseconds) and inserts the head. Without audit_signing_key the signer does not run.
 * Both use a connection of their own (a pool of one on worker 0's ring), not the worker's pool: a chaining
 * call runs for tens of milliseconds under a surge, and requests pipelined behind it would wait that long.
 */
#include "internal.h"
#include "citas/hex.h"
#include "citas/server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct server_config_key keys[] = {
    {"audit_signing_key", ""},           {"audit_public_key", ""},
    {"audit_sign_interval_ms", "60000"}, {"audit_chain_interval_ms", "250"},
    {"audit_chain_batch", "500"},        {"audit_busy_requests", "500"},
    {"audit_busy_max_ms", "10000"},      {NULL, NULL},
};

static atomic_uint_fast64_t heads_signed, sign_errors;

struct signer {
    struct ring *ring;
    struct pg_pool *pg; /* ours: destroyed in worker_stop() */
    void *key;          /* NULL: not signing */
    uint64_t interval_ms;
    struct ring_op timer;
    int stopping;
    struct audit_chainer *chainer;
};

static void arm(struct signer *s);

static void on_insert(const struct pg_reply *r, void *ctx)
{
    struct signer *s = ctx;
    if (r->status == PG_OK)
        atomic_fetch_add(&heads_signed, 1);
    else
        atomic_fetch_add(&sign_errors, 1);
    arm(s);
}

static void on_head(const struct pg_reply *r, void *ctx)
{
    struct signer *s = ctx;
    if (r->status != PG_OK || r->nresults != 1) {
        atomic_fetch_add(&sign_errors, 1);
        arm(s);
        return;
    }
    const PGresult *res = r->results[0];
    /* no records yet, or the head is already signed */
    if (PQntuples(res) != 1 || !PQgetisnull(res, 0, 2)) {
        arm(s);
        return;
    }
    const char *id = PQgetvalue(res, 0, 0);
    unsigned char hash[AUDIT_HASH_LEN], sig[AUDIT_SIG_LEN];
    if (audit_bytea_decode(PQgetvalue(res, 0, 1), hash, sizeof(hash)) != AUDIT_HASH_LEN ||
        audit_sign_head(s->key, strtoll(id, NULL, 10), hash, sig) != 0) {
        atomic_fetch_add(&sign_errors, 1);
        arm(s);
        return;
    }
    char hash_hex[2 + 2 * AUDIT_HASH_LEN + 1] = "\\x", sig_hex[2 + 2 * AUDIT_SIG_LEN + 1] = "\\x";
    hex_encode(hash_hex + 2, hash, AUDIT_HASH_LEN);
    hex_encode(sig_hex + 2, sig, AUDIT_SIG_LEN);
    const char *v[3] = {id, hash_hex, sig_hex};
    if (pg_query(s->pg, "INSERT INTO audit_heads (upto_id, head_hash, signature) VALUES ($1::bigint, $2, $3)",
                 3, v, on_insert, s) != 0) {
        atomic_fetch_add(&sign_errors, 1);
        arm(s);
    }
}

static void on_timer(struct ring_op *op, int res)
{
    struct signer *s = op->data;
    if (s->stopping || res == -ECANCELED)
        return;
    /* the head's id and hash, and whether a head up to that id was signed already (NULL: not yet) */
    if (pg_query(s->pg,
                 "SELECT l.id, l.hash, (SELECT 1 FROM audit_heads h WHERE h.upto_id = l.id LIMIT 1)"
                 " FROM audit_log l ORDER BY l.id DESC LIMIT 1",
                 0, NULL, on_head, s) != 0) {
        atomic_fetch_add(&sign_errors, 1);
        arm(s);
    }
}

static void arm(struct signer *s)
{
    if (s->stopping)
        return;
    s->timer.cb = on_timer;
    s->timer.data = s;
    if (ring_timeout(s->ring, &s->timer, s->interval_ms) != 0)
        fprintf(stderr, "citasd: audit: cannot arm the signing timer; signing stops\n");
}

static int config_positive(const struct server_config *cfg, const char *key, uint64_t max, uint64_t *out)
{
    char err[160];
    if (server_config_uint(cfg, key, out, err, sizeof(err)) != 0 || *out == 0 || *out > max) {
        fprintf(stderr, "citasd: %s: %s\n", key, *out == 0 || *out > max ? "out of range" : err);
        return -EINVAL;
    }
    return 0;
}

static int worker_init(struct server_worker *w, void **state)
{
    const struct server_config *cfg = server_worker_config(w);
    uint64_t interval, chain_ms, batch, busy_requests, busy_max_ms;
    char err[160];
    if (config_positive(cfg, "audit_sign_interval_ms", UINT32_MAX, &interval) != 0 ||
        config_positive(cfg, "audit_chain_interval_ms", UINT32_MAX, &chain_ms) != 0 ||
        config_positive(cfg, "audit_chain_batch", 100000, &batch) != 0 ||
        config_positive(cfg, "audit_busy_max_ms", UINT32_MAX, &busy_max_ms) != 0)
        return -EINVAL;
    if (server_config_uint(cfg, "audit_busy_requests", &busy_requests, err, sizeof(err)) != 0) {
        fprintf(stderr, "citasd: audit_busy_requests: %s\n", err);
        return -EINVAL;
    }
    if (server_worker_id(w) != 0)
        return 0;
    struct signer *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    const char *path = server_config_get(cfg, "audit_signing_key");
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "citasd: audit: no audit_signing_key; chain heads are not signed\n");
    } else {
        s->key = audit_load_private_key(path);
        if (s->key == NULL) {
            fprintf(stderr, "citasd: audit_signing_key %s: not a readable Ed25519 PEM private key\n", path);
            free(s);
            return -EINVAL;
        }
    }
    s->ring = server_worker_ring(w);
    s->interval_ms = interval;
    struct pg_pool_config pc = {
        .conninfo = cfg->pg_dsn, .size = 1, .timeout_ms = (unsigned)cfg->pg_timeout_ms};
    int rc = pg_pool_create(s->ring, &pc, &s->pg);
    if (rc == 0 && (s->chainer = audit_chainer_start(s->ring, s->pg, cfg->pg_dsn, chain_ms, (unsigned)batch,
                                                     busy_requests, busy_max_ms)) == NULL)
        rc = -ENOMEM;
    if (rc != 0) {
        pg_pool_destroy(s->pg);
        audit_free_key(s->key);
        free(s);
        return rc;
    }
    if (s->key != NULL)
        arm(s);
    *state = s;
    return 0;
}

static void worker_stop(void *state)
{
    struct signer *s = state;
    if (s == NULL)
        return;
    s->stopping = 1;
    pg_forget(s->pg, s);
    if (s->timer.in_flight)
        ring_cancel(s->ring, &s->timer);
    audit_chainer_stop(s->chainer, s->key);
    pg_pool_destroy(s->pg); /* the worker's loop still turns: the pool's cancelled polls come back */
    s->pg = NULL;
}

static void worker_free(void *state)
{
    struct signer *s = state;
    if (s == NULL)
        return;
    audit_chainer_free(s->chainer);
    audit_free_key(s->key);
    free(s);
}

static void metrics(struct server_metrics *m)
{
    server_metrics_put(m, "# TYPE citas_audit_heads_signed_total counter\n");
    server_metrics_put(m, "citas_audit_heads_signed_total %" PRIuFAST64 "\n", atomic_load(&heads_signed));
    server_metrics_put(m, "# TYPE citas_audit_sign_errors_total counter\n");
    server_metrics_put(m, "citas_audit_sign_errors_total %" PRIuFAST64 "\n", atomic_load(&sign_errors));
    server_metrics_put(m, "# TYPE citas_audit_records_chained_total counter\n");
    server_metrics_put(m, "citas_audit_records_chained_total %" PRIuFAST64 "\n",
                       atomic_load(&audit_chained_total));
    server_metrics_put(m, "# TYPE citas_audit_chain_errors_total counter\n");
    server_metrics_put(m, "citas_audit_chain_errors_total %" PRIuFAST64 "\n",
                       atomic_load(&audit_chain_errors));
    server_metrics_put(m, "# HELP citas_audit_chain_deferred_total Chainer turns skipped while the server "
                          "was busy (audit_busy_requests).\n");
    server_metrics_put(m, "# TYPE citas_audit_chain_deferred_total counter\n");
    server_metrics_put(m, "citas_audit_chain_deferred_total %" PRIuFAST64 "\n",
                       atomic_load(&audit_chain_deferred));
}

const struct server_module audit_server_module = {
    .name = "audit",
    .keys = keys,
    .worker_init = worker_init,
    .worker_stop = worker_stop,
    .worker_free = worker_free,
    .metrics = metrics,
};
