/*
 * pg against a real PostgreSQL (CITAS_TEST_PG_DSN): pipelined parameterised queries, a constraint
 * violation that fails only itself, transactions, prepared statements (once per connection, a Prepare
 * that fails, a plan the server no longer accepts, the cache bound), a PostgreSQL restart
 * (CITAS_TEST_PG_RESTART), timeouts, pool destruction and array literals. Tables are created with
 * unique names and dropped at the end.
 */
#include "citas/pg.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What one callback saw; calls counts invocations so "exactly once" can be checked. */
struct res {
    int calls;
    enum pg_status status;
    char sqlstate[6];
    char value[64]; /* first column of the first row of the last statement, if any */
    int nresults, failed, ntuples;
    char message[128]; /* pg_error_message(), "" when NULL */
    int null0;         /* the first field of the first row is SQL NULL (pg_text() gave NULL) */
};

static void on_reply(const struct pg_reply *r, void *ctx)
{
    struct res *x = ctx;
    x->calls++;
    x->status = r->status;
    snprintf(x->sqlstate, sizeof(x->sqlstate), "%s", r->sqlstate);
    x->nresults = r->nresults;
    x->failed = r->failed;
    x->value[0] = '\0';
    x->ntuples = 0;
    x->null0 = 0;
    const char *m = pg_error_message(r);
    snprintf(x->message, sizeof(x->message), "%s", m != NULL ? m : "");
    if (r->status == PG_OK && r->nresults > 0) {
        const PGresult *last = r->results[r->nresults - 1];
        x->ntuples = PQntuples(last);
        if (x->ntuples > 0 && PQnfields(last) > 0) {
            snprintf(x->value, sizeof(x->value), "%s", PQgetvalue(last, 0, 0));
            x->null0 = pg_text(last, 0, 0) == NULL;
        }
    }
    if (r->status != PG_OK && getenv("CITAS_TEST_VERBOSE"))
        fprintf(stderr, "pg reply: %s %s %s\n", pg_status_str(r->status), r->sqlstate, r->message);
}

static struct ring *ring;

static void run_until_calls(int *calls, int want, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    while (*calls < want && harness_now_ms() < deadline)
        ring_run_once(ring, 10);
}

static void run_for(int ms)
{
    long long deadline = harness_now_ms() + ms;
    while (harness_now_ms() < deadline)
        ring_run_once(ring, 5);
}

static int wait_ready(struct pg_pool *p, unsigned n, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    struct pg_stats s;
    for (;;) {
        pg_get_stats(p, &s);
        if (s.connections_ready >= n)
            return 0;
        if (harness_now_ms() >= deadline)
            return -1;
        ring_run_once(ring, 10);
    }
}

/* Runs one statement to completion. */
static struct res exec1(struct pg_pool *p, const char *sql, int n, const char *const *v)
{
    struct res r = {0};
    if (pg_query(p, sql, n, v, on_reply, &r) != 0) {
        r.status = PG_ERR_CONN;
        return r;
    }
    run_until_calls(&r.calls, 1, 10000);
    return r;
}

static char table[64];

static void sqlf(char *buf, size_t len, const char *fmt)
{
    /* the table name is ours (pid + time), never input: the only SQL built by formatting in this file */
    snprintf(buf, len, fmt, table);
}

static void test_pipeline(struct pg_pool *p)
{
    enum { N = 5000, NI = 1000 };
    static struct res sel[N], ins[NI];
    static char vals[N][16];
    char sql[256];
    struct pg_stats before, after;
    pg_get_stats(p, &before);
    struct ring_stats rb, ra;
    ring_get_stats(ring, &rb);

    long long t0 = harness_now_ms();
    int accepted = 0;
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof(vals[i]), "%d", i);
        const char *v[] = {vals[i]};
        accepted += pg_query(p, "SELECT $1::int + 1", 1, v, on_reply, &sel[i]) == 0;
    }
    sqlf(sql, sizeof(sql), "INSERT INTO %s (id, v) VALUES ($1::int, $2) RETURNING id");
    for (int i = 0; i < NI; i++) {
        const char *v[] = {vals[i], i % 2 ? "odd" : NULL};
        accepted += pg_query(p, sql, 2, v, on_reply, &ins[i]) == 0;
    }
    CHECK_INT(accepted, N + NI);
    int done = 0;
    long long deadline = harness_now_ms() + 20000;
    while (done < N + NI && harness_now_ms() < deadline) {
        ring_run_once(ring, 10);
        done = 0;
        for (int i = 0; i < N; i++)
            done += sel[i].calls;
        for (int i = 0; i < NI; i++)
            done += ins[i].calls;
    }
    long long elapsed = harness_now_ms() - t0;
    int ok = 0, once = 1;
    for (int i = 0; i < N; i++) {
        once &= sel[i].calls == 1;
        ok += sel[i].status == PG_OK && atoi(sel[i].value) == i + 1;
    }
    CHECK(once);
    CHECK_INT(ok, N);
    ok = 0;
    for (int i = 0; i < NI; i++) {
        once &= ins[i].calls == 1;
        ok += ins[i].status == PG_OK && atoi(ins[i].value) == i;
    }
    CHECK(once);
    CHECK_INT(ok, NI);

    pg_get_stats(p, &after);
    ring_get_stats(ring, &ra);
    CHECK_INT(after.queries - before.queries, N + NI);
    CHECK_INT(after.errors - before.errors, 0);
    CHECK_INT(after.in_flight, 0);
    /* pipelining: thousands of calls were waiting for their results on one connection at once (one
     * round trip per call would never have more than one) */
    CHECK(after.max_pipeline >= 1000);
    printf("pipeline: %d calls in %lld ms, max %llu in flight on one connection, %llu ring ops\n", N + NI,
           elapsed, (unsigned long long)after.max_pipeline, (unsigned long long)(ra.sqes - rb.sqes));

    sqlf(sql, sizeof(sql), "SELECT count(*), count(v) FROM %s");
    struct res c = exec1(p, sql, 0, NULL);
    CHECK_INT(c.status, PG_OK);
    CHECK_INT(atoi(c.value), NI);
}

/* One connection, so the three inserts share one pipeline. */
static void test_constraint(struct pg_pool *p1)
{
    char sql[256];
    struct res a = {0}, b = {0}, c = {0};
    sqlf(sql, sizeof(sql), "INSERT INTO %s (id, v) VALUES ($1::int, $2)");
    const char *va[] = {"20001", "a"}, *vb[] = {"20001", "b"}, *vc[] = {"20002", "c"};
    struct pg_stats before, after;
    pg_get_stats(p1, &before);
    CHECK_INT(pg_query(p1, sql, 2, va, on_reply, &a), 0);
    CHECK_INT(pg_query(p1, sql, 2, vb, on_reply, &b), 0);
    CHECK_INT(pg_query(p1, sql, 2, vc, on_reply, &c), 0);
    run_until_calls(&c.calls, 1, 10000);
    pg_get_stats(p1, &after);
    CHECK(after.max_pipeline >= 3);
    CHECK_INT(a.calls, 1);
    CHECK_INT(b.calls, 1);
    CHECK_INT(c.calls, 1);
    CHECK_INT(a.status, PG_OK);
    CHECK_INT(b.status, PG_ERR_QUERY);
    CHECK(strcmp(b.sqlstate, "23505") == 0);
    CHECK_INT(b.failed, 0);
    CHECK_INT(c.status, PG_OK);
    CHECK_INT(after.errors - before.errors, 1);

    sqlf(sql, sizeof(sql), "SELECT string_agg(v, ',' ORDER BY id) FROM %s WHERE id IN (20001, 20002)");
    struct res s = exec1(p1, sql, 0, NULL);
    CHECK(strcmp(s.value, "a,c") == 0);

    /* a syntax error is a query error too, with its own SQLSTATE, and fails only itself */
    struct res e = exec1(p1, "SELEC 1", 0, NULL);
    CHECK_INT(e.status, PG_ERR_QUERY);
    CHECK(strcmp(e.sqlstate, "42601") == 0);
    /* its primary message, without libpq's "ERROR:" prefix; none for a success */
    CHECK(strncmp(e.message, "syntax error", 12) == 0);
    CHECK(strcmp(s.message, "") == 0);
    /* pg_text(): NULL only for SQL NULL, "" stays "" */
    CHECK(s.null0 == 0);
    struct res nul = exec1(p1, "SELECT NULL::text", 0, NULL);
    CHECK(nul.status == PG_OK && nul.ntuples == 1 && nul.null0 == 1);
    struct res empty = exec1(p1, "SELECT ''::text", 0, NULL);
    CHECK(empty.status == PG_OK && empty.ntuples == 1 && empty.null0 == 0);
}

static void test_tx(struct pg_pool *p1)
{
    char ins[256], sql[256];
    sqlf(ins, sizeof(ins), "INSERT INTO %s (id, v) VALUES ($1::int, $2) RETURNING id");

    struct pg_tx *tx = pg_tx_begin(p1);
    CHECK(tx != NULL);
    const char *v1[] = {"30001", "tx1"}, *v2[] = {"30002", "tx2"};
    CHECK_INT(pg_tx_add(tx, ins, 2, v1), 0);
    CHECK_INT(pg_tx_add(tx, ins, 2, v2), 0);
    sqlf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE id IN (30001, 30002)");
    CHECK_INT(pg_tx_add(tx, sql, 0, NULL), 0); /* sees the transaction's own rows */
    struct res ok = {0};
    CHECK_INT(pg_tx_commit(tx, on_reply, &ok), 0);
    run_until_calls(&ok.calls, 1, 10000);
    CHECK_INT(ok.status, PG_OK);
    CHECK_INT(ok.nresults, 3);
    CHECK(strcmp(ok.value, "2") == 0);

    /* fails at its second statement: the first and third leave nothing behind */
    tx = pg_tx_begin(p1);
    const char *w1[] = {"30003", "w1"}, *dup[] = {"30001", "dup"}, *w3[] = {"30004", "w3"};
    CHECK_INT(pg_tx_add(tx, ins, 2, w1), 0);
    CHECK_INT(pg_tx_add(tx, ins, 2, dup), 0);
    CHECK_INT(pg_tx_add(tx, ins, 2, w3), 0);
    struct res bad = {0}, after = {0};
    CHECK_INT(pg_tx_commit(tx, on_reply, &bad), 0);
    /* queued behind it on the same connection: must not land in an aborted transaction */
    sqlf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE id BETWEEN 30001 AND 30004");
    CHECK_INT(pg_query(p1, sql, 0, NULL, on_reply, &after), 0);
    run_until_calls(&after.calls, 1, 10000);
    CHECK_INT(bad.calls, 1);
    CHECK_INT(bad.status, PG_ERR_QUERY);
    CHECK_INT(bad.failed, 1);
    CHECK(strcmp(bad.sqlstate, "23505") == 0);
    CHECK_INT(after.status, PG_OK);
    CHECK(strcmp(after.value, "2") == 0);

    /* misuse is refused without a callback */
    tx = pg_tx_begin(p1);
    struct res never = {0};
    CHECK_INT(pg_tx_commit(tx, on_reply, &never), -22);
    tx = pg_tx_begin(p1);
    CHECK_INT(pg_tx_add(tx, NULL, 0, NULL), -22);
    CHECK_INT(pg_tx_add(tx, "SELECT 1", 0, NULL), 0);
    CHECK_INT(pg_tx_commit(tx, on_reply, &never), -22);
    pg_tx_abort(pg_tx_begin(p1));
    pg_tx_abort(NULL);
    run_for(50);
    CHECK_INT(never.calls, 0);
}

/* Array literals: any string survives the round trip through PostgreSQL's array parser, NULL stays NULL. */
static void test_array(struct pg_pool *p)
{
    static const char *const elems[] = {"plain",    "",     "with \"quotes\"", "back\\slash\\", "a,b",
                                        "{braces}", "NULL", " spaces ",        "ñandú €",       NULL,
                                        "end\\"};
    size_t n = sizeof(elems) / sizeof(elems[0]);
    struct pg_array a;
    pg_array_init(&a);
    CHECK(strcmp(pg_array_text(&a), "{}") == 0);
    for (size_t i = 0; i < n; i++)
        pg_array_add(&a, elems[i]);
    const char *v[] = {pg_array_text(&a)};
    CHECK(v[0] != NULL);
    /* each element back, in order, with its position: NULL comes back as SQL NULL */
    struct res r = {0};
    CHECK_INT(
        pg_query(p, "SELECT count(*) FROM unnest($1::text[]) WITH ORDINALITY AS u(e, i)", 1, v, on_reply, &r),
        0);
    run_until_calls(&r.calls, 1, 10000);
    CHECK_INT(r.status, PG_OK);
    CHECK_INT(atoi(r.value), (int)n);
    for (size_t i = 0; i < n; i++) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%zu", i + 1);
        const char *w[] = {v[0], idx};
        struct res e = {0};
        CHECK_INT(pg_query(p, "SELECT ($1::text[])[$2::int]", 2, w, on_reply, &e), 0);
        run_until_calls(&e.calls, 1, 10000);
        CHECK_INT(e.status, PG_OK);
        if (elems[i] == NULL)
            CHECK(e.null0);
        else
            CHECK(!e.null0 && strcmp(e.value, elems[i]) == 0);
    }
    pg_array_free(&a);
    pg_array_free(&a); /* freeing twice is harmless */
}

/* Statements with parameters are prepared once per connection and run by name (p1 has one connection). */
static void test_prepared(struct pg_pool *p1)
{
    enum { N = 50, M = 300 };
    static struct res r[M];
    static char vals[M][16], texts[M][64];
    struct pg_stats s0, s1;
    pg_get_stats(p1, &s0);
    const char *plus = "SELECT $1::int + 1";
    for (int i = 0; i < N; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        snprintf(vals[i], sizeof(vals[i]), "%d", i);
        const char *v[] = {vals[i]};
        CHECK_INT(pg_query(p1, plus, 1, v, on_reply, &r[i]), 0);
    }
    int calls = 0, right = 0;
    for (long long end = harness_now_ms() + 10000; calls < N && harness_now_ms() < end;) {
        ring_run_once(ring, 10);
        calls = right = 0;
        for (int i = 0; i < N; i++) {
            char want[16];
            snprintf(want, sizeof(want), "%d", i + 1);
            calls += r[i].calls;
            right += r[i].status == PG_OK && strcmp(r[i].value, want) == 0;
        }
    }
    CHECK_INT(right, N);
    pg_get_stats(p1, &s1);
    CHECK_INT((int)(s1.prepared - s0.prepared), 1); /* 50 runs, one Prepare */

    /* a transaction failing at its first statement: the new statement after it was still prepared, so a
     * call right behind it that runs the same text by name succeeds */
    char ins[256];
    sqlf(ins, sizeof(ins), "INSERT INTO %s (id, v) VALUES ($1::int, $2) RETURNING id");
    struct pg_tx *tx = pg_tx_begin(p1);
    const char *dup[] = {"30001", "dup"}, *seven[] = {"7"};
    CHECK_INT(pg_tx_add(tx, ins, 2, dup), 0);
    CHECK_INT(pg_tx_add(tx, "SELECT $1::int * 3", 1, seven), 0);
    struct res bad = {0}, behind = {0};
    CHECK_INT(pg_tx_commit(tx, on_reply, &bad), 0);
    CHECK_INT(pg_query(p1, "SELECT $1::int * 3", 1, seven, on_reply, &behind), 0);
    run_until_calls(&behind.calls, 1, 10000);
    run_until_calls(&bad.calls, 1, 10000);
    CHECK(bad.status == PG_ERR_QUERY && bad.failed == 0 && strcmp(bad.sqlstate, "23505") == 0);
    CHECK(behind.status == PG_OK && strcmp(behind.value, "21") == 0);

    /* a statement the server cannot prepare fails its call as that statement, with the server's error;
     * the connection and the other statements go on */
    tx = pg_tx_begin(p1);
    CHECK_INT(pg_tx_add(tx, "SELECT $1::int - 1", 1, seven), 0);
    CHECK_INT(pg_tx_add(tx, "SELEC $1::int", 1, seven), 0);
    struct res syn = {0}, again = {0}, good = {0}, later = {0};
    CHECK_INT(pg_tx_commit(tx, on_reply, &syn), 0);
    CHECK_INT(pg_query(p1, "SELEC $1::int", 1, seven, on_reply, &again), 0);
    CHECK_INT(pg_query(p1, plus, 1, seven, on_reply, &good), 0);
    run_until_calls(&good.calls, 1, 10000);
    run_until_calls(&again.calls, 1, 10000);
    run_until_calls(&syn.calls, 1, 10000);
    CHECK(syn.status == PG_ERR_QUERY && syn.failed == 1 && strcmp(syn.sqlstate, "42601") == 0);
    CHECK(strncmp(syn.message, "syntax error", 12) == 0);
    CHECK_INT(again.status, PG_ERR_QUERY); /* ran by the name whose Prepare failed: an error, not a crash */
    CHECK(good.status == PG_OK && strcmp(good.value, "8") == 0);
    later = exec1(p1, "SELEC $1::int", 1, seven); /* prepared afresh: the syntax error again */
    CHECK(later.status == PG_ERR_QUERY && strcmp(later.sqlstate, "42601") == 0);
    struct res minus = exec1(p1, "SELECT $1::int - 1", 1, seven);
    CHECK(minus.status == PG_OK && strcmp(minus.value, "6") == 0);

    /* the table under a prepared statement changes its column type: the server refuses the cached plan
     * once (0A000), the statement is prepared again and works */
    char sql[256], ddl[256];
    sqlf(sql, sizeof(sql), "SELECT v FROM %s WHERE id = $1::int");
    const char *one[] = {"30001"};
    struct res before = exec1(p1, sql, 1, one);
    CHECK(before.status == PG_OK && strcmp(before.value, "tx1") == 0);
    sqlf(ddl, sizeof(ddl), "ALTER TABLE %s ALTER COLUMN v TYPE varchar(40)");
    CHECK_INT(exec1(p1, ddl, 0, NULL).status, PG_OK);
    sqlf(ddl, sizeof(ddl), "ALTER TABLE %s ALTER COLUMN v TYPE int USING length(v)");
    CHECK_INT(exec1(p1, ddl, 0, NULL).status, PG_OK);
    struct res changed = exec1(p1, sql, 1, one);
    if (changed.status != PG_OK)
        CHECK(strcmp(changed.sqlstate, "0A000") == 0);
    struct res after = exec1(p1, sql, 1, one);
    CHECK(after.status == PG_OK && strcmp(after.value, "3") == 0);
    sqlf(ddl, sizeof(ddl), "ALTER TABLE %s ALTER COLUMN v TYPE text");
    CHECK_INT(exec1(p1, ddl, 0, NULL).status, PG_OK);

    /* more texts than the cache holds: all run, the cache stays bounded */
    pg_get_stats(p1, &s0);
    for (int i = 0; i < M; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        snprintf(texts[i], sizeof(texts[i]), "SELECT $1::int + %d", 1000 + i);
        const char *v[] = {seven[0]};
        CHECK_INT(pg_query(p1, texts[i], 1, v, on_reply, &r[i]), 0);
    }
    calls = right = 0;
    for (long long end = harness_now_ms() + 10000; calls < M && harness_now_ms() < end;) {
        ring_run_once(ring, 10);
        calls = right = 0;
        for (int i = 0; i < M; i++) {
            char want[16];
            snprintf(want, sizeof(want), "%d", 1007 + i);
            calls += r[i].calls;
            right += r[i].status == PG_OK && strcmp(r[i].value, want) == 0;
        }
    }
    CHECK_INT(right, M);
    pg_get_stats(p1, &s1);
    CHECK(s1.prepared - s0.prepared > 0 && s1.prepared - s0.prepared < M);
    printf("prepared: %llu statements prepared on one connection\n", (unsigned long long)s1.prepared);
}

static void test_timeout(struct pg_pool *p)
{
    struct pg_stats before, after;
    pg_get_stats(p, &before);
    struct res slow = {0};
    long long t0 = harness_now_ms();
    CHECK_INT(pg_query_timeout(p, 200, "SELECT pg_sleep(2)", 0, NULL, on_reply, &slow), 0);
    run_until_calls(&slow.calls, 1, 5000);
    long long elapsed = harness_now_ms() - t0;
    CHECK_INT(slow.status, PG_ERR_TIMEOUT);
    CHECK(elapsed >= 190 && elapsed < 1000);
    pg_get_stats(p, &after);
    CHECK_INT(after.timeouts - before.timeouts, 1);
    /* the pool keeps working (the reset connection comes back) */
    const char *v[] = {"41"};
    struct res r = exec1(p, "SELECT $1::int + 1", 1, v);
    CHECK_INT(r.status, PG_OK);
    CHECK(strcmp(r.value, "42") == 0);
    CHECK_INT(wait_ready(p, 2, 5000), 0);
}

static void test_restart(struct pg_pool *p)
{
    enum { N = 10 };
    struct res slow[N] = {{0}};
    struct pg_stats before, after;
    const char *v[] = {"7"};
    for (int i = 0; i < 4; i++) /* prepared on the connections that are about to be lost */
        CHECK_INT(exec1(p, "SELECT $1::int * 6", 1, v).status, PG_OK);
    pg_get_stats(p, &before);
    for (int i = 0; i < N; i++)
        CHECK_INT(pg_query_timeout(p, 30000, "SELECT pg_sleep(5)", 0, NULL, on_reply, &slow[i]), 0);
    run_for(200); /* sent and running */
    /* the restarted postmaster must not inherit our stdout/stderr (meson test waits for them to close) */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "(%s) </dev/null >%s/citas_test_pg_restart.log 2>&1",
             harness_env("CITAS_TEST_PG_RESTART"), harness_env("CITAS_TEST_TMPDIR"));
    int rc = system(cmd);
    CHECK_INT(rc, 0);
    long long t0 = harness_now_ms();
    int calls = 0;
    long long deadline = t0 + 10000;
    while (calls < N && harness_now_ms() < deadline) {
        ring_run_once(ring, 10);
        calls = 0;
        for (int i = 0; i < N; i++)
            calls += slow[i].calls;
    }
    int failed_clean = 0;
    for (int i = 0; i < N; i++)
        failed_clean += slow[i].calls == 1 && slow[i].status == PG_ERR_CONN;
    CHECK_INT(failed_clean, N);

    /* the same pool serves new queries again within a few seconds (the statement prepared anew) */
    struct res r = exec1(p, "SELECT $1::int * 6", 1, v);
    long long back = harness_now_ms() - t0;
    CHECK_INT(r.status, PG_OK);
    CHECK(strcmp(r.value, "42") == 0);
    CHECK(back < 5000);
    CHECK_INT(wait_ready(p, 2, 5000), 0);
    pg_get_stats(p, &after);
    CHECK(after.reconnects - before.reconnects >= 2);
    CHECK(after.prepared > before.prepared);
    run_for(100);
    int once = 1;
    for (int i = 0; i < N; i++)
        once &= slow[i].calls == 1;
    CHECK(once);
    printf("restart: pending calls failed, pool back after %lld ms\n", back);
}

static void test_destroy(const char *dsn)
{
    struct pg_pool *p;
    struct pg_pool_config cfg = {.conninfo = dsn, .size = 1};
    CHECK_INT(pg_pool_create(ring, &cfg, &p), 0);
    CHECK_INT(wait_ready(p, 1, 5000), 0);
    struct res sent = {0}, queued = {0}, forgotten = {0};
    CHECK_INT(pg_query(p, "SELECT pg_sleep(1)", 0, NULL, on_reply, &sent), 0);
    run_for(50);
    CHECK_INT(pg_query(p, "SELECT 1", 0, NULL, on_reply, &queued), 0);
    CHECK_INT(pg_query(p, "SELECT 2", 0, NULL, on_reply, &forgotten), 0);
    CHECK_INT(pg_forget(p, &forgotten), 1);
    pg_pool_destroy(p);
    CHECK_INT(sent.calls, 1);
    CHECK_INT(sent.status, PG_ERR_SHUTDOWN);
    CHECK_INT(queued.calls, 1);
    CHECK_INT(queued.status, PG_ERR_SHUTDOWN);
    CHECK_INT(forgotten.calls, 0);
    pg_pool_destroy(NULL);
    run_for(50); /* cancelled polls come back and release the pool */
    CHECK_INT(sent.calls, 1);

    /* an unreachable server: calls time out cleanly while the pool keeps retrying */
    char bad[128];
    snprintf(bad, sizeof(bad), "host=127.0.0.1 port=%d dbname=x user=x connect_timeout=1",
             harness_free_port());
    cfg = (struct pg_pool_config){.conninfo = bad, .size = 2, .timeout_ms = 300};
    CHECK_INT(pg_pool_create(ring, &cfg, &p), 0);
    struct res r = {0};
    CHECK_INT(pg_query(p, "SELECT 1", 0, NULL, on_reply, &r), 0);
    run_until_calls(&r.calls, 1, 5000);
    CHECK_INT(r.status, PG_ERR_TIMEOUT);
    struct pg_stats s;
    pg_get_stats(p, &s);
    CHECK(s.connects_failed >= 2);
    CHECK_INT(s.connections_ready, 0);
    pg_pool_destroy(p);
    run_for(50);
}

int main(void)
{
    const char *dsn = harness_env("CITAS_TEST_PG_DSN");
    h2o_evloop_t *loop = h2o_evloop_create();
    CHECK_INT(ring_create(loop, 256, &ring), 0);
    snprintf(table, sizeof(table), "citas_test_pg_%d_%lld", (int)getpid(), harness_now_ms());

    struct pg_pool *p, *p1;
    struct pg_pool_config cfg = {.conninfo = dsn, .size = 2};
    CHECK_INT(pg_pool_create(ring, &cfg, &p), 0);
    struct pg_pool_config cfg1 = {.conninfo = dsn, .size = 1};
    CHECK_INT(pg_pool_create(ring, &cfg1, &p1), 0);
    CHECK_INT(wait_ready(p, 2, 5000), 0);
    CHECK_INT(wait_ready(p1, 1, 5000), 0);

    char sql[256];
    sqlf(sql, sizeof(sql), "CREATE TABLE %s (id int PRIMARY KEY, v text)");
    struct res c = exec1(p, sql, 0, NULL);
    CHECK_INT(c.status, PG_OK);

    test_pipeline(p);
    test_array(p);
    test_constraint(p1);
    test_tx(p1);
    test_prepared(p1);
    test_timeout(p);
    test_restart(p);
    test_destroy(dsn);

    sqlf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s");
    struct res d = exec1(p, sql, 0, NULL);
    CHECK_INT(d.status, PG_OK);

    pg_pool_destroy(p);
    pg_pool_destroy(p1);
    run_for(50);
    ring_destroy(ring);
    h2o_evloop_destroy(loop);
    return harness_finish("pg");
}
