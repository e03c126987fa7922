/*
 * redis: the client against a real redis-server started here: pipelining, FIFO replies, error replies,
 * a killed server and reconnection, timeouts, EVALSHA with the NOSCRIPT fallback, destroy and detach.
 */
#include "citas/redis.h"
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* What one callback saw. */
struct rec {
    int calls;
    int order; /* position among all callbacks */
    int type;
    long long integer;
    char str[64];
    const char *err; /* pointer as passed (client errors are compared by address) */
    char errtext[64];
};

static int seq;

static void on_reply(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    struct rec *r = ctx;
    (void)c;
    r->calls++;
    r->order = seq++;
    r->err = err;
    if (err != NULL) {
        snprintf(r->errtext, sizeof(r->errtext), "%s", err);
        return;
    }
    r->type = reply->type;
    r->integer = reply->integer;
    if (reply->str != NULL)
        snprintf(r->str, sizeof(r->str), "%.*s", (int)reply->len, reply->str);
}

static struct ring *ring;

static void run_until(int (*done)(void *), void *arg, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    while (!done(arg) && harness_now_ms() < deadline)
        ring_run_once(ring, 10);
}

static void run_for(int ms)
{
    long long deadline = harness_now_ms() + ms;
    while (harness_now_ms() < deadline)
        ring_run_once(ring, 5);
}

struct all_done {
    struct rec *recs;
    int n;
};

static int is_all_done(void *arg)
{
    struct all_done *a = arg;
    for (int i = 0; i < a->n; i++)
        if (a->recs[i].calls == 0)
            return 0;
    return 1;
}

static int is_connected(void *arg)
{
    return redis_is_connected(arg);
}

static void wait_recs(struct rec *recs, int n, int timeout_ms)
{
    struct all_done a = {recs, n};
    run_until(is_all_done, &a, timeout_ms);
}

static int cmd(struct redis_client *c, struct rec *r, int argc, const char **argv)
{
    return redis_command(c, on_reply, r, argc, argv, NULL);
}

static pid_t start_redis(int port)
{
    char portbuf[16];
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    const char *dir = getenv("CITAS_TEST_TMPDIR");
    char *argv[] = {"redis-server",
                    "--port",
                    portbuf,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    (char *)(dir ? dir : "/tmp"),
                    "--protected-mode",
                    "no",
                    "--enable-debug-command",
                    "yes",
                    NULL};
    pid_t pid = harness_spawn(argv);
    if (harness_wait_port(port, 10000) != 0) {
        harness_kill(pid, SIGKILL, 1000);
        return -1;
    }
    return pid;
}

/* 1. 10,000 x (SET, GET, INCR) from one loop turn: right replies, in order, in few sends. */
static void test_pipeline(struct redis_client *c)
{
    enum { N = 10000 };
    struct rec *recs = calloc(3 * N, sizeof(*recs));
    struct redis_stats before, after;
    const char *del[] = {"DEL", "ctr"};
    struct rec d = {0};
    cmd(c, &d, 2, del);
    wait_recs(&d, 1, 2000);
    redis_get_stats(c, &before);
    seq = 0;
    int rc = 0;
    for (int i = 0; i < N; i++) {
        char k[32], v[32];
        snprintf(k, sizeof(k), "k_%d", i);
        snprintf(v, sizeof(v), "v_%d", i);
        const char *set[] = {"SET", k, v}, *get[] = {"GET", k}, *incr[] = {"INCR", "ctr"};
        rc |= cmd(c, &recs[3 * i], 3, set);
        rc |= cmd(c, &recs[3 * i + 1], 2, get);
        rc |= cmd(c, &recs[3 * i + 2], 2, incr);
    }
    CHECK_INT(rc, 0);
    wait_recs(recs, 3 * N, 10000);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        char v[32];
        snprintf(v, sizeof(v), "v_%d", i);
        struct rec *s = &recs[3 * i], *g = &recs[3 * i + 1], *n = &recs[3 * i + 2];
        if (s->calls != 1 || g->calls != 1 || n->calls != 1 || s->err || g->err || n->err ||
            s->type != REDIS_REPLY_STATUS || strcmp(s->str, "OK") != 0 || g->type != REDIS_REPLY_STRING ||
            strcmp(g->str, v) != 0 || n->type != REDIS_REPLY_INTEGER || n->integer != i + 1 ||
            s->order != 3 * i || g->order != 3 * i + 1 || n->order != 3 * i + 2)
            bad++;
    }
    CHECK_INT(bad, 0);
    redis_get_stats(c, &after);
    uint64_t cmds = after.commands - before.commands, sends = after.sends - before.sends;
    CHECK_INT(cmds, 3 * N);
    CHECK_INT(after.replies - before.replies, 3 * N);
    CHECK(sends >= 1 && sends < cmds / 10);
    CHECK_INT(after.pending, 0);
    printf("pipeline: %llu commands in %llu sends\n", (unsigned long long)cmds, (unsigned long long)sends);
    free(recs);
}

/* 1b. Arguments of every shape reach Redis intact (citas formats RESP itself): empty, binary with NUL and
 * CRLF, 9/10/99/100/1000-byte lengths, and more than nine arguments in one command. */
struct bytes_rec {
    int calls, type;
    long long integer;
    size_t len;
    char data[1100];
};

static void on_bytes(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct bytes_rec *r = ctx;
    r->calls++;
    if (err != NULL || reply == NULL) {
        r->type = -1;
        return;
    }
    r->type = reply->type;
    r->integer = reply->integer;
    if (reply->str != NULL && reply->len <= sizeof(r->data)) {
        memcpy(r->data, reply->str, reply->len);
        r->len = reply->len;
    }
}

static int bytes_done(void *arg)
{
    struct bytes_rec *r = arg;
    for (int i = 0; i < 13; i++)
        if (r[i].calls == 0)
            return 0;
    return 1;
}

static void test_arguments(struct redis_client *c)
{
    enum { NV = 12 };
    static char big[1000], hundred[100], ninety_nine[99];
    memset(big, 'b', sizeof(big));
    memset(hundred, 'h', sizeof(hundred));
    memset(ninety_nine, 'n', sizeof(ninety_nine));
    const char *val[NV] = {"",  "a\0b\r\nc", "123456789", "1234567890", ninety_nine, hundred,
                           big, "x",         "$3\r\nfoo", "*2\r\n",     "\r\n",      "last"};
    size_t len[NV] = {0, 7, 9, 10, sizeof(ninety_nine), sizeof(hundred), sizeof(big), 1, 8, 4, 2, 4};
    const char *argv[2 + NV] = {"RPUSH", "citas:test:args"};
    size_t argl[2 + NV] = {5, 15};
    for (int i = 0; i < NV; i++) {
        argv[2 + i] = val[i];
        argl[2 + i] = len[i];
    }
    const char *del[] = {"DEL", "citas:test:args"};
    struct rec d = {0};
    cmd(c, &d, 2, del);
    wait_recs(&d, 1, 2000);
    struct bytes_rec r[1 + NV];
    memset(r, 0, sizeof(r));
    CHECK_INT(redis_command(c, on_bytes, &r[0], 2 + NV, argv, argl), 0);
    for (int i = 0; i < NV; i++) {
        char idx[8];
        snprintf(idx, sizeof(idx), "%d", i);
        const char *lindex[] = {"LINDEX", "citas:test:args", idx};
        CHECK_INT(redis_command(c, on_bytes, &r[1 + i], 3, lindex, NULL), 0);
    }
    run_until(bytes_done, r, 3000);
    CHECK(r[0].type == REDIS_REPLY_INTEGER && r[0].integer == NV);
    int bad = 0;
    for (int i = 0; i < NV; i++)
        if (r[1 + i].type != REDIS_REPLY_STRING || r[1 + i].len != len[i] ||
            memcmp(r[1 + i].data, val[i], len[i]) != 0)
            bad++;
    CHECK_INT(bad, 0);
}

/* 2. Error replies reach their callback as errors; the commands around them succeed. */
static void test_error_reply(struct redis_client *c)
{
    struct rec r[5] = {{0}};
    const char *set[] = {"SET", "str", "abc"}, *incr[] = {"INCR", "str"}, *get[] = {"GET", "str"};
    const char *bogus[] = {"NOSUCHCOMMAND", "x"}, *ping[] = {"PING"};
    cmd(c, &r[0], 3, set);
    cmd(c, &r[1], 2, incr);
    cmd(c, &r[2], 2, get);
    cmd(c, &r[3], 2, bogus);
    cmd(c, &r[4], 1, ping);
    wait_recs(r, 5, 2000);
    CHECK(r[0].err == NULL && strcmp(r[0].str, "OK") == 0);
    CHECK(r[1].err != NULL && strncmp(r[1].errtext, "ERR", 3) == 0);
    CHECK(r[2].err == NULL && strcmp(r[2].str, "abc") == 0);
    CHECK(r[3].err != NULL && strncmp(r[3].errtext, "ERR unknown command", 19) == 0);
    CHECK(r[4].err == NULL && strcmp(r[4].str, "PONG") == 0);
    for (int i = 0; i < 5; i++)
        CHECK_INT(r[i].calls, 1);
}

/* 4. A command slower than the timeout fails by timeout; its late reply does not shift the FIFO. */
static void test_timeout(int port)
{
    struct redis_config cfg = {.host = "127.0.0.1", .port = port, .timeout_ms = 200};
    struct redis_client *c;
    CHECK_INT(redis_client_create(ring, &cfg, &c), 0);
    run_until(is_connected, c, 3000);
    struct rec sleep = {0}, ping = {0};
    const char *dbg[] = {"DEBUG", "SLEEP", "1"}, *p[] = {"PING"};
    long long start = harness_now_ms();
    cmd(c, &sleep, 3, dbg);
    wait_recs(&sleep, 1, 3000);
    long long took = harness_now_ms() - start;
    CHECK(sleep.err == redis_err_timeout);
    CHECK(took >= 190 && took < 800);
    run_for(1000 - (int)took + 100); /* the sleep ends; its reply arrives and is dropped */
    cmd(c, &ping, 1, p);
    wait_recs(&ping, 1, 2000);
    CHECK(ping.err == NULL && strcmp(ping.str, "PONG") == 0);
    CHECK_INT(sleep.calls, 1);
    struct redis_stats st;
    redis_get_stats(c, &st);
    CHECK_INT(st.timeouts, 1);
    CHECK_INT(st.replies, 2);
    CHECK(redis_is_connected(c));
    redis_client_destroy(c);
    run_for(20);
}

/* 5. EVALSHA after SCRIPT FLUSH: NOSCRIPT is retried with EVAL; the caller sees one right reply. */
static void test_evalsha(struct redis_client *c)
{
    struct redis_script *s = redis_script_create("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    CHECK(s != NULL);
    CHECK_INT(strlen(redis_script_sha(s)), 40);
    struct rec fl = {0}, del = {0};
    const char *flush[] = {"SCRIPT", "FLUSH"}, *d[] = {"DEL", "evk"};
    cmd(c, &fl, 2, flush);
    cmd(c, &del, 2, d);
    wait_recs(&del, 1, 2000);
    struct redis_stats before, after;
    redis_get_stats(c, &before);

    const char *args[] = {"evk", "5"};
    struct rec first = {0};
    CHECK_INT(redis_evalsha(c, s, 1, 2, args, NULL, on_reply, &first), 0);
    wait_recs(&first, 1, 2000);
    CHECK(first.err == NULL && first.type == REDIS_REPLY_INTEGER && first.integer == 5);
    CHECK_INT(first.calls, 1);
    redis_get_stats(c, &after);
    CHECK_INT(after.script_retries - before.script_retries, 1);

    /* now loaded: 100 calls, no retry */
    struct rec many[100] = {{0}};
    for (int i = 0; i < 100; i++)
        redis_evalsha(c, s, 1, 2, args, NULL, on_reply, &many[i]);
    wait_recs(many, 100, 2000);
    int bad = 0;
    for (int i = 0; i < 100; i++)
        bad += many[i].calls != 1 || many[i].err != NULL || many[i].integer != 10 + 5 * i;
    CHECK_INT(bad, 0);
    redis_get_stats(c, &before);
    CHECK_INT(before.script_retries, after.script_retries);

    /* flushed again with 100 in flight: each retried once, all right, in order */
    struct rec fl2 = {0};
    cmd(c, &fl2, 2, flush);
    memset(many, 0, sizeof(many));
    seq = 0;
    for (int i = 0; i < 100; i++)
        redis_evalsha(c, s, 1, 2, args, NULL, on_reply, &many[i]);
    wait_recs(many, 100, 2000);
    bad = 0;
    for (int i = 0; i < 100; i++)
        bad += many[i].calls != 1 || many[i].err != NULL || many[i].integer != 510 + 5 * i;
    CHECK_INT(bad, 0);
    redis_get_stats(c, &after);
    CHECK_INT(after.script_retries - before.script_retries, 100);

    /* a script's own error reply is an error for the caller, not retried */
    struct redis_script *e = redis_script_create("return redis.error_reply('SOLD_OUT no seat')");
    struct rec er = {0};
    CHECK_INT(redis_evalsha(c, e, 0, 0, NULL, NULL, on_reply, &er), 0);
    wait_recs(&er, 1, 2000);
    CHECK(er.err != NULL && strcmp(er.errtext, "SOLD_OUT no seat") == 0);
    redis_script_free(e);
    redis_script_free(s);
}

/* 3. SIGKILL with many commands pending: each fails once; a restarted server is used again. */
static void test_kill(struct redis_client *c, pid_t *pid, int port)
{
    enum { N = 2000 };
    struct rec *recs = calloc(N + 1, sizeof(*recs));
    const char *blpop[] = {"BLPOP", "nosuchlist", "0"}, *get[] = {"GET", "k_1"};
    /* BLPOP blocks the connection: everything behind it stays pending */
    CHECK_INT(cmd(c, &recs[0], 3, blpop), 0);
    for (int i = 1; i <= N; i++)
        cmd(c, &recs[i], 2, get);
    run_for(200);
    struct redis_stats st;
    redis_get_stats(c, &st);
    CHECK_INT(st.pending, N + 1);
    harness_kill(*pid, SIGKILL, 2000);
    long long start = harness_now_ms();
    wait_recs(recs, N + 1, 3000);
    CHECK(harness_now_ms() - start < 1000);
    int bad = 0;
    for (int i = 0; i <= N; i++)
        bad += recs[i].calls != 1 || recs[i].err != redis_err_disconnected;
    CHECK_INT(bad, 0);
    run_for(100);
    for (int i = 0; i <= N; i++)
        bad += recs[i].calls != 1;
    CHECK_INT(bad, 0); /* still once: nothing fires twice */
    CHECK(!redis_is_connected(c));
    redis_get_stats(c, &st);
    CHECK_INT(st.pending, 0);

    /* the server is down: calls fail fast (refused or failed with the connect attempt) */
    struct rec down = {0};
    const char *ping[] = {"PING"};
    int rc = cmd(c, &down, 1, ping);
    if (rc == 0) {
        wait_recs(&down, 1, 3000);
        CHECK(down.calls == 1 && down.err == redis_err_disconnected);
    } else {
        CHECK_INT(rc, -ENOTCONN);
    }

    *pid = start_redis(port);
    CHECK(*pid > 0);
    run_until(is_connected, c, 5000);
    CHECK(redis_is_connected(c));
    struct rec up = {0};
    CHECK_INT(cmd(c, &up, 1, ping), 0);
    wait_recs(&up, 1, 2000);
    CHECK(up.err == NULL && strcmp(up.str, "PONG") == 0);
    redis_get_stats(c, &st);
    CHECK(st.reconnects >= 1);
    CHECK(st.connects >= 2);
    free(recs);
}

/* Destroy fails what is pending, once; detach silences a caller that went away. */
static void test_destroy_detach(int port)
{
    struct redis_config cfg = {.host = "127.0.0.1", .port = port};
    struct redis_client *c;
    CHECK_INT(redis_client_create(ring, &cfg, &c), 0);
    run_until(is_connected, c, 3000);
    struct rec a = {0}, b = {0}, x = {0};
    const char *dbg[] = {"DEBUG", "SLEEP", "0.2"}, *ping[] = {"PING"};
    cmd(c, &a, 3, dbg);
    cmd(c, &x, 1, ping);
    cmd(c, &b, 1, ping);
    CHECK_INT(redis_detach(c, &x), 1);
    run_for(50);
    redis_client_destroy(c);
    CHECK(a.calls == 1 && a.err == redis_err_closed);
    CHECK(b.calls == 1 && b.err == redis_err_closed);
    CHECK_INT(x.calls, 0);
    run_for(300);
    CHECK(a.calls == 1 && b.calls == 1 && x.calls == 0);

    /* created and destroyed before connecting: queued commands fail, nothing leaks */
    CHECK_INT(redis_client_create(ring, &cfg, &c), 0);
    struct rec q = {0};
    CHECK_INT(cmd(c, &q, 1, ping), 0);
    redis_client_destroy(c);
    CHECK(q.calls == 1 && q.err == redis_err_closed);
    run_for(50);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    int port = harness_free_port();
    pid_t pid = start_redis(port);
    CHECK(pid > 0);
    if (pid <= 0)
        return harness_finish("redis");
    h2o_evloop_t *loop = h2o_evloop_create();
    CHECK_INT(ring_create(loop, 256, &ring), 0);

    struct redis_config bad = {.host = NULL};
    struct redis_client *c = NULL;
    CHECK_INT(redis_client_create(ring, &bad, &c), -EINVAL);
    struct redis_config cfg = {.host = "127.0.0.1", .port = port, .timeout_ms = 5000};
    CHECK_INT(redis_client_create(ring, &cfg, &c), 0);
    run_until(is_connected, c, 3000);
    CHECK(redis_is_connected(c));

    test_pipeline(c);
    test_arguments(c);
    test_error_reply(c);
    test_timeout(port);
    test_evalsha(c);
    test_destroy_detach(port);
    test_kill(c, &pid, port);

    redis_client_destroy(c);
    run_for(50);
    ring_destroy(ring);
    h2o_evloop_destroy(loop);
    harness_kill(pid, SIGTERM, 3000);
    return harness_finish("redis");
}
