/*
 * audit: audit_record() and audit_tx_add() on the async pool (records wait in audit_pending, then chain
 * correctly in pending order; a rolled back transaction leaves no record; a missing role is the account's;
 * bad events are refused; pending rows cannot be deleted or changed outside the chainer), the Ed25519 head
 * helpers, and the citasd module (a server started here with only the audit module) chaining pending
 * records on its timer, signing the chain head, and chaining and signing once more when it stops.
 */
#include "citas/audit.h"
#include "citas/pg.h"
#include "citas/ring.h"
#include "citas/server.h"
#include "harness.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 200

static struct ring *ring;
static int calls, oks;

static void on_reply(const struct pg_reply *r, void *ctx)
{
    (void)ctx;
    calls++;
    if (r->status == PG_OK)
        oks++;
    else if (r->status != PG_ERR_QUERY)
        fprintf(stderr, "pg reply: %s %s\n", pg_status_str(r->status), r->message);
}

static void run_until(int want, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    while (calls < want && harness_now_ms() < deadline)
        ring_run_once(ring, 10);
}

static long long count(PGconn *c, const char *sql, const char *param)
{
    const char *v[1] = {param};
    PGresult *r = PQexecParams(c, sql, param != NULL ? 1 : 0, NULL, v, NULL, NULL, 0);
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : -1;
    if (n < 0)
        fprintf(stderr, "query failed: %s\n", PQerrorMessage(c));
    PQclear(r);
    return n;
}

/* What citasd's chainer does, synchronously: everything pending into the chain. */
static void chain(PGconn *c)
{
    CHECK(count(c, "SELECT audit_chain_pending(100000, true)", NULL) >= 0);
}

static int refused(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_FATAL_ERROR &&
             strstr(PQresultErrorMessage(r), "audit_pending is append-only") != NULL;
    PQclear(r);
    return ok;
}

static void test_append(struct pg_pool *p, PGconn *c, const char *tag)
{
    char subject[N][64], detail[N][64];
    int accepted = 0;
    calls = oks = 0;
    for (int i = 0; i < N; i++) {
        snprintf(subject[i], sizeof(subject[i]), "%s:%d", tag, i);
        snprintf(detail[i], sizeof(detail[i]), "{\"i\": %d, \"note\": \"caf\\u00e9\"}", i);
        struct audit_event e = {.actor_account = i % 3 == 0 ? 0 : 1000 + i,
                                .actor_role = "citizen",
                                .action = "test.append",
                                .subject = subject[i],
                                .detail_json = detail[i],
                                .client_ip = i % 2 ? "203.0.113.9" : (i % 4 == 0 ? NULL : "2001:db8::1")};
        if (audit_record(p, &e, on_reply, NULL) == 0)
            accepted++;
    }
    CHECK_INT(accepted, N);
    run_until(N, 20000);
    CHECK_INT(oks, N);
    char like[80];
    snprintf(like, sizeof(like), "%s:%%", tag);
    /* recorded without a lock: pending until a chainer runs (citasd's of a concurrent test may, too) */
    CHECK(count(c, "SELECT count(*) FROM audit_pending WHERE subject LIKE $1", like) +
              count(c, "SELECT count(*) FROM audit_log WHERE subject LIKE $1", like) ==
          N);
    CHECK(refused(c, "DELETE FROM audit_pending"));
    CHECK(refused(c, "UPDATE audit_pending SET subject = 'x'"));
    chain(c);
    CHECK_INT(count(c, "SELECT count(*) FROM audit_pending WHERE subject LIKE $1", like), 0);
    CHECK_INT(count(c, "SELECT count(*) FROM audit_log WHERE subject LIKE $1", like), N);
    /* every record of ours hashes right and links to the record just before it */
    CHECK_INT(
        count(
            c,
            "SELECT count(*) FROM audit_log l WHERE subject LIKE $1 AND hash = audit_row_hash(prev_hash, id,"
            " at, actor_account, actor_role, action, subject, detail, client_ip) AND prev_hash ="
            " coalesce((SELECT hash FROM audit_log p WHERE p.id < l.id ORDER BY p.id DESC LIMIT 1),"
            " decode(repeat('00', 32), 'hex'))",
            like),
        N);
    CHECK_INT(
        count(c, "SELECT count(*) FROM audit_log WHERE subject LIKE $1 AND actor_account IS NULL", like), 67);
    CHECK_INT(count(c, "SELECT count(*) FROM audit_log WHERE subject LIKE $1 AND client_ip IS NULL", like),
              50);

    /* in a caller's transaction: committed with it, or rolled back with it */
    char s_ok[80], s_bad[80];
    snprintf(s_ok, sizeof(s_ok), "%s:tx-ok", tag);
    snprintf(s_bad, sizeof(s_bad), "%s:tx-bad", tag);
    struct audit_event e = {.actor_account = 7, .actor_role = "helpdesk", .action = "appointment.lookup"};
    calls = oks = 0;
    struct pg_tx *tx = pg_tx_begin(p);
    e.subject = s_ok;
    CHECK_INT(pg_tx_add(tx, "SELECT 1", 0, NULL), 0);
    CHECK_INT(audit_tx_add(tx, &e), 0);
    CHECK_INT(pg_tx_commit(tx, on_reply, NULL), 0);
    tx = pg_tx_begin(p);
    e.subject = s_bad;
    CHECK_INT(audit_tx_add(tx, &e), 0);
    CHECK_INT(pg_tx_add(tx, "SELECT 1 / 0", 0, NULL), 0);
    CHECK_INT(pg_tx_commit(tx, on_reply, NULL), 0);
    run_until(2, 10000);
    CHECK_INT(calls, 2);
    CHECK_INT(oks, 1);
    chain(c);
    CHECK_INT(count(c, "SELECT count(*) FROM audit_log WHERE subject = $1", s_ok), 1);
    CHECK_INT(count(c, "SELECT count(*) FROM audit_log WHERE subject = $1", s_bad), 0);

    /* refused before anything is sent */
    struct audit_event bad = {.actor_role = "citizen"};
    CHECK_INT(audit_record(p, &bad, on_reply, NULL), -EINVAL);
    bad = (struct audit_event){.action = "x", .actor_account = -1};
    CHECK_INT(audit_record(p, &bad, on_reply, NULL), -EINVAL);
    bad = (struct audit_event){.action = ""};
    CHECK_INT(audit_record(p, &bad, on_reply, NULL), -EINVAL);
    /* without a role: the account's role, or "system" without an account */
    char email[96], acct[24], s_role[80], s_sys[80];
    snprintf(email, sizeof(email), "%s@audit.example.com", tag);
    const char *ev[1] = {email};
    PGresult *ar = PQexecParams(c,
                                "INSERT INTO accounts (email, password_hash, full_name, role, verified_at)"
                                " VALUES ($1, '$argon2id$test', 'Auditor', 'helpdesk', now()) RETURNING id",
                                1, NULL, ev, NULL, NULL, 0);
    CHECK(PQresultStatus(ar) == PGRES_TUPLES_OK && PQntuples(ar) == 1);
    snprintf(acct, sizeof(acct), "%s", PQntuples(ar) == 1 ? PQgetvalue(ar, 0, 0) : "0");
    PQclear(ar);
    snprintf(s_role, sizeof(s_role), "%s:role", tag);
    snprintf(s_sys, sizeof(s_sys), "%s:system", tag);
    calls = oks = 0;
    struct audit_event r1 = {.actor_account = atoll(acct), .action = "test.role", .subject = s_role};
    struct audit_event r2 = {.action = "test.role", .subject = s_sys};
    CHECK_INT(audit_record(p, &r1, on_reply, NULL), 0);
    CHECK_INT(audit_record(p, &r2, on_reply, NULL), 0);
    run_until(2, 10000);
    CHECK_INT(oks, 2);
    chain(c);
    CHECK_INT(
        count(c, "SELECT count(*) FROM audit_log WHERE subject = $1 AND actor_role = 'helpdesk'", s_role), 1);
    CHECK_INT(count(c, "SELECT count(*) FROM audit_log WHERE subject = $1 AND actor_role = 'system'", s_sys),
              1);
    /* malformed detail JSON is refused by PostgreSQL */
    calls = oks = 0;
    e.detail_json = "{not json";
    CHECK_INT(audit_record(p, &e, on_reply, NULL), 0);
    run_until(1, 10000);
    CHECK_INT(calls, 1);
    CHECK_INT(oks, 0);
}

static void write_keys(const char *priv, const char *pub)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    CHECK(k != NULL);
    FILE *f = fopen(priv, "w");
    CHECK(f != NULL && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
    if (f != NULL)
        fclose(f);
    f = fopen(pub, "w");
    CHECK(f != NULL && PEM_write_PUBKEY(f, k) == 1);
    if (f != NULL)
        fclose(f);
    EVP_PKEY_free(k);
}

static void test_sign(const char *priv, const char *pub)
{
    void *sk = audit_load_private_key(priv), *pk = audit_load_public_key(pub);
    CHECK(sk != NULL && pk != NULL);
    CHECK(audit_load_private_key(pub) == NULL);
    CHECK(audit_load_public_key("/nonexistent") == NULL);
    unsigned char h[AUDIT_HASH_LEN], sig[AUDIT_SIG_LEN];
    for (int i = 0; i < AUDIT_HASH_LEN; i++)
        h[i] = (unsigned char)i;
    char msg[128];
    CHECK_INT(audit_head_message(42, h, msg, sizeof(msg)),
              (int)strlen("citas-audit-head:42:") + 2 * AUDIT_HASH_LEN);
    CHECK(
        strcmp(msg, "citas-audit-head:42:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f") ==
        0);
    CHECK_INT(audit_sign_head(sk, 42, h, sig), 0);
    CHECK_INT(audit_verify_head(pk, 42, h, sig, sizeof(sig)), 1);
    CHECK_INT(audit_verify_head(pk, 43, h, sig, sizeof(sig)), 0);
    h[5] ^= 1;
    CHECK_INT(audit_verify_head(pk, 42, h, sig, sizeof(sig)), 0);
    h[5] ^= 1;
    sig[0] ^= 1;
    CHECK_INT(audit_verify_head(pk, 42, h, sig, sizeof(sig)), 0);
    unsigned char b[4];
    CHECK_INT(audit_bytea_decode("\\x0aFf", b, sizeof(b)), 2);
    CHECK(b[0] == 0x0a && b[1] == 0xff);
    CHECK_INT(audit_bytea_decode("0aff", b, sizeof(b)), -1);
    CHECK_INT(audit_bytea_decode("\\x0a0b0c0d0e", b, sizeof(b)), -1);
    audit_free_key(sk);
    audit_free_key(pk);
}

static struct server *start_server(struct server_config *cfg, struct server_app *app, const char *dsn,
                                   const char *priv, const char *chain_ms, const char *sign_ms)
{
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", harness_free_port());
    setenv("CITAS_LISTEN", listen, 1);
    setenv("CITAS_TLS_LISTEN", "", 1);
    setenv("CITAS_WORKERS", "2", 1);
    setenv("CITAS_ACCESS_LOG", "", 1);
    setenv("CITAS_PG_DSN", dsn, 1);
    setenv("CITAS_REDIS_HOST", "127.0.0.1", 1);
    setenv("CITAS_REDIS_PORT", harness_env("CITAS_TEST_REDIS_PORT"), 1);
    setenv("CITAS_AUDIT_SIGNING_KEY", priv, 1);
    setenv("CITAS_AUDIT_SIGN_INTERVAL_MS", sign_ms, 1);
    setenv("CITAS_AUDIT_CHAIN_INTERVAL_MS", chain_ms, 1);
    char err[256];
    CHECK_INT(server_config_load(cfg, app, NULL, err, sizeof(err)), 0);
    struct server *s = NULL;
    int rc = server_start(cfg, app, &s, err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "server_start: %s\n", err);
        server_config_free(cfg);
        return NULL;
    }
    return s;
}

/* Records `n` actions with subjects "<tag>:<i>" straight into audit_pending, as audit_tx_add() would. */
static void add_pending(PGconn *c, const char *tag, int n)
{
    char nv[16];
    snprintf(nv, sizeof(nv), "%d", n);
    const char *v[2] = {tag, nv};
    PGresult *r = PQexecParams(c,
                               "SELECT count(audit_add(NULL, 'system', 'test.chain', $1 || ':' || g, "
                               "jsonb_build_object('i', g), '192.0.2.1')) FROM generate_series(1, $2::int) g",
                               2, NULL, v, NULL, NULL, 0);
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
    PQclear(r);
}

/* citasd's chainer at shutdown: a server whose timers never fire chains and signs when it stops */
static void test_shutdown_chain(PGconn *c, const char *dsn, const char *priv, const char *pub,
                                const char *tag)
{
    const struct server_module *mods[] = {&audit_server_module};
    const struct server_route routes[] = {
        {"GET", "/healthz", "healthz", server_on_healthz, SERVER_ADMIT_NORMAL}};
    struct server_app app = {.routes = routes, .nroutes = 1, .modules = mods, .nmodules = 1};
    struct server_config cfg;
    struct server *s = start_server(&cfg, &app, dsn, priv, "600000", "600000");
    if (s == NULL)
        return;
    char t[96], like[100];
    snprintf(t, sizeof(t), "%s-stop", tag);
    snprintf(like, sizeof(like), "%s:%%", t);
    add_pending(c, t, 30);
    CHECK_INT(server_stop(s), 0);
    server_free(s);
    server_config_free(&cfg);
    CHECK_INT(count(c, "SELECT count(*) FROM audit_log WHERE subject LIKE $1", like), 30);
    /* a head signed at the stop covers them (no other signer runs in the test suite) */
    void *pk = audit_load_public_key(pub);
    PGresult *r =
        PQexecParams(c,
                     "SELECT h.upto_id, h.head_hash, h.signature FROM audit_heads h JOIN audit_log l"
                     " ON l.id = h.upto_id AND l.hash = h.head_hash WHERE h.upto_id >="
                     " (SELECT max(id) FROM audit_log WHERE subject LIKE $1) ORDER BY h.id DESC LIMIT 1",
                     1, NULL, (const char *[]){like}, NULL, NULL, 0);
    int ok = 0;
    unsigned char h[AUDIT_HASH_LEN], sig[AUDIT_SIG_LEN];
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        audit_bytea_decode(PQgetvalue(r, 0, 1), h, sizeof(h)) == AUDIT_HASH_LEN &&
        audit_bytea_decode(PQgetvalue(r, 0, 2), sig, sizeof(sig)) == AUDIT_SIG_LEN)
        ok = audit_verify_head(pk, atoll(PQgetvalue(r, 0, 0)), h, sig, sizeof(sig));
    CHECK(ok);
    PQclear(r);
    audit_free_key(pk);
}

/* citasd's chainer and signer: a server with only the audit module chains every 100 ms and signs the head
 * every 100 ms */
static void test_signer(PGconn *c, const char *dsn, const char *priv, const char *pub, const char *tag)
{
    const struct server_module *mods[] = {&audit_server_module};
    const struct server_route routes[] = {
        {"GET", "/healthz", "healthz", server_on_healthz, SERVER_ADMIT_NORMAL}};
    struct server_app app = {.routes = routes, .nroutes = 1, .modules = mods, .nmodules = 1};
    struct server_config cfg;
    struct server *s = start_server(&cfg, &app, dsn, priv, "100", "100");
    if (s == NULL)
        return;
    /* pending records reach the chain on the chainer's timer, 1,200 of them in batches of 500 */
    char t[96], like[100];
    snprintf(t, sizeof(t), "%s-timer", tag);
    snprintf(like, sizeof(like), "%s:%%", t);
    add_pending(c, t, 1200);
    long long chained = 0, until = harness_now_ms() + 15000;
    while ((chained = count(c, "SELECT count(*) FROM audit_log WHERE subject LIKE $1", like)) < 1200 &&
           harness_now_ms() < until)
        usleep(50000);
    CHECK_INT(chained, 1200);
    CHECK_INT(count(c, "SELECT count(*) FROM audit_pending WHERE subject LIKE $1", like), 0);
    /* in pending order: subject numbers ascend with the chain's ids */
    CHECK_INT(
        count(c,
              "SELECT count(*) FROM (SELECT split_part(subject, ':', 2)::int AS i, lag(split_part(subject,"
              " ':', 2)::int) OVER (ORDER BY id) AS prev FROM audit_log WHERE subject LIKE $1) x"
              " WHERE i <> prev + 1",
              like),
        0);
    long long last = count(c, "SELECT max(id) FROM audit_log", NULL);
    void *pk = audit_load_public_key(pub);
    int found = 0;
    long long deadline = harness_now_ms() + 15000;
    while (!found && harness_now_ms() < deadline) {
        char lastv[24];
        snprintf(lastv, sizeof(lastv), "%lld", last);
        const char *v[1] = {lastv};
        PGresult *r =
            PQexecParams(c,
                         "SELECT h.upto_id, h.head_hash, h.signature FROM audit_heads h JOIN audit_log l"
                         " ON l.id = h.upto_id AND l.hash = h.head_hash WHERE h.upto_id >= $1::bigint",
                         1, NULL, v, NULL, NULL, 0);
        for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
            unsigned char h[AUDIT_HASH_LEN], sig[AUDIT_SIG_LEN];
            if (audit_bytea_decode(PQgetvalue(r, i, 1), h, sizeof(h)) == AUDIT_HASH_LEN &&
                audit_bytea_decode(PQgetvalue(r, i, 2), sig, sizeof(sig)) == AUDIT_SIG_LEN &&
                audit_verify_head(pk, atoll(PQgetvalue(r, i, 0)), h, sig, sizeof(sig)))
                found = 1;
        }
        PQclear(r);
        if (!found)
            usleep(50000);
    }
    CHECK(found);
    /* the same head is not signed twice by this signer */
    usleep(400000);
    char lastv[24];
    snprintf(lastv, sizeof(lastv), "%lld", last);
    CHECK_INT(count(c, "SELECT count(*) FROM audit_heads WHERE upto_id = $1::bigint", lastv), 1);
    CHECK_INT(server_stop(s), 0);
    server_free(s);
    server_config_free(&cfg);
    audit_free_key(pk);
}

int main(void)
{
    const char *dsn = harness_env("CITAS_TEST_PG_DSN");
    const char *tmp = harness_env("CITAS_TEST_TMPDIR");
    char tag[64], priv[512], pub[512];
    snprintf(tag, sizeof(tag), "test-audit-%d-%lld", (int)getpid(), harness_now_ms());
    snprintf(priv, sizeof(priv), "%s/%s.key", tmp, tag);
    snprintf(pub, sizeof(pub), "%s/%s.pub", tmp, tag);
    PGconn *c = PQconnectdb(dsn);
    CHECK(PQstatus(c) == CONNECTION_OK);

    h2o_evloop_t *loop = h2o_evloop_create();
    CHECK_INT(ring_create(loop, 256, &ring), 0);
    struct pg_pool *p;
    struct pg_pool_config pc = {.conninfo = dsn, .size = 4};
    CHECK_INT(pg_pool_create(ring, &pc, &p), 0);
    test_append(p, c, tag);
    pg_pool_destroy(p);
    long long deadline = harness_now_ms() + 50;
    while (harness_now_ms() < deadline)
        ring_run_once(ring, 5);
    ring_destroy(ring);
    h2o_evloop_destroy(loop);

    write_keys(priv, pub);
    test_sign(priv, pub);
    test_signer(c, dsn, priv, pub, tag);
    test_shutdown_chain(c, dsn, priv, pub, tag);
    PQfinish(c);
    unlink(priv);
    unlink(pub);
    return harness_finish("audit");
}
