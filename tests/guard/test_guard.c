/*
 * guard: hCaptcha verification against the local siteverify stub (in-process, on its own threads) and
 * rate limits against a private redis-server, all driven by one ring with real Redis and curl clients.
 */
#include "citas/curl.h"
#include "citas/guard.h"
#include "citas/redis.h"
#include "citas/ring.h"
#include "harness.h"
#include "http_sink.h"
#include "siteverify_stub.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ring *ring;
static struct redis_client *redis;
static struct curl_client *curl;
static struct siteverify_stub *stub;
static char prefix[64], url[128];

/* ---- running the loop ---- */

static void run_until(const int *calls, int want, int timeout_ms)
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

/* ---- direct Redis access, to look at what the guard wrote ---- */

struct rec {
    int calls;
    int type;
    long long integer;
    char str[128];
    double time_ms; /* a TIME reply, in ms */
    int err;
};

static void on_redis(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct rec *r = ctx;
    r->calls++;
    r->err = err != NULL;
    if (err != NULL)
        return;
    r->type = reply->type;
    r->integer = reply->integer;
    if (reply->str != NULL)
        snprintf(r->str, sizeof(r->str), "%.*s", (int)reply->len, reply->str);
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[0]->str != NULL &&
        reply->element[1]->str != NULL)
        r->time_ms = atof(reply->element[0]->str) * 1000 + atof(reply->element[1]->str) / 1000;
}

static struct rec redis_run(int argc, const char **argv)
{
    struct rec r = {0};
    if (redis_command(redis, on_redis, &r, argc, argv, NULL) == 0)
        run_until(&r.calls, 1, 3000);
    return r;
}

/* The tokens left in a bucket of `cap` per `period_ms` (from its theoretical arrival time and Redis's
 * clock), or -1 if it does not exist. */
static double bucket_tokens(const char *key, double cap, double period_ms)
{
    char full[512];
    snprintf(full, sizeof(full), "%s%s", prefix, key);
    struct rec r = redis_run(2, (const char *[]){"GET", full});
    if (r.type != REDIS_REPLY_STRING)
        return -1;
    double tat = atof(r.str);
    struct rec t = redis_run(1, (const char *[]){"TIME"});
    double now = t.time_ms;
    double tokens = cap - (tat - now) * cap / period_ms;
    return tokens > cap ? cap : tokens;
}

/* ---- guard calls ---- */

struct verdict {
    int calls;
    enum guard_verdict v;
    unsigned retry;
};

static void on_captcha(enum guard_verdict v, void *ctx)
{
    struct verdict *r = ctx;
    r->calls++;
    r->v = v;
}

static void on_rate(enum guard_verdict v, unsigned retry_after, void *ctx)
{
    struct verdict *r = ctx;
    r->calls++;
    r->v = v;
    r->retry = retry_after;
}

/* Verifies and waits for the verdict; -1 if the callback did not run exactly once, later. */
static int verify(struct guard *g, const char *action, const char *response, const char *ip)
{
    struct verdict r = {0};
    if (guard_verify_captcha(g, action, response, ip, on_captcha, &r) != 0)
        return -2;
    int early = r.calls;
    run_until(&r.calls, 1, 5000);
    run_for(20);
    return early == 0 && r.calls == 1 ? (int)r.v : -1;
}

static int rate(struct guard *g, const char *routes, const char *ip, const char *account, unsigned *retry)
{
    struct verdict r = {0};
    struct guard_subject s = {.ip = ip, .account = account};
    if (guard_rate_check(g, routes, &s, on_rate, &r) != 0)
        return -2;
    int early = r.calls;
    run_until(&r.calls, 1, 5000);
    if (retry != NULL)
        *retry = r.retry;
    return early == 0 && r.calls == 1 ? (int)r.v : -1;
}

static struct guard_config captcha_config(void)
{
    return (struct guard_config){.siteverify_url = url,
                                 .secret = SITEVERIFY_TEST_SECRET,
                                 .sitekey = SITEVERIFY_TEST_SITEKEY,
                                 .hostname = "citas.example, localhost",
                                 .timeout_ms = 700,
                                 .actions = "register,login,booking",
                                 .key_prefix = prefix};
}

static struct guard *make(const struct guard_config *cfg)
{
    struct guard *g = NULL;
    char err[256];
    int rc = guard_create(ring, redis, curl, cfg, &g, err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "guard_create: %s\n", err);
    return g;
}

/* ---- captcha ---- */

static void test_captcha(void)
{
    struct guard_config cfg = captcha_config();
    struct guard *g = make(&cfg);
    struct http_sink *sink = siteverify_stub_sink(stub);

    /* the published test keys pass; the request is form-encoded with every field */
    CHECK_INT(verify(g, "login", SITEVERIFY_TEST_RESPONSE, "192.0.2.7"), GUARD_OK);
    struct http_sink_request last;
    CHECK_INT(http_sink_last(sink, &last), 0);
    char ctype[128] = "";
    http_sink_header(&last, "Content-Type", ctype, sizeof(ctype));
    CHECK(strcmp(ctype, "application/x-www-form-urlencoded") == 0);
    CHECK(strcmp(last.method, "POST") == 0);
    CHECK(strstr(last.body, "secret=" SITEVERIFY_TEST_SECRET) != NULL);
    CHECK(strstr(last.body, "response=" SITEVERIFY_TEST_RESPONSE) != NULL);
    CHECK(strstr(last.body, "remoteip=192.0.2.7") != NULL);
    CHECK(strstr(last.body, "sitekey=" SITEVERIFY_TEST_SITEKEY) != NULL);
    http_sink_request_free(&last);

    /* the same response again is refused without asking siteverify, which would say yes */
    unsigned long asked = http_sink_count(sink);
    CHECK_INT(verify(g, "login", SITEVERIFY_TEST_RESPONSE, "192.0.2.7"), GUARD_CAPTCHA_REUSED);
    CHECK_INT(http_sink_count(sink), asked);

    CHECK_INT(verify(g, "booking", "wrong-response", NULL), GUARD_CAPTCHA_INVALID);
    CHECK_INT(verify(g, "booking", NULL, NULL), GUARD_CAPTCHA_MISSING);
    CHECK_INT(verify(g, "register", "", NULL), GUARD_CAPTCHA_MISSING);

    /* a response with characters that need escaping reaches siteverify percent-encoded */
    CHECK_INT(verify(g, "login", "pass-ok-\xc3\xa9&= +", NULL), GUARD_OK);
    CHECK_INT(http_sink_last(sink, &last), 0);
    CHECK(strstr(last.body, "&response=pass-ok-%C3%A9%26%3D%20%2B&") != NULL);
    CHECK(strstr(last.body, "remoteip") == NULL);
    http_sink_request_free(&last);

    /* actions outside captcha_actions need none */
    CHECK_INT(guard_needs_captcha(g, "login"), 1);
    CHECK_INT(guard_needs_captcha(g, "search"), 0);
    CHECK_INT(guard_needs_captcha(g, "log"), 0);
    CHECK_INT(verify(g, "search", NULL, NULL), GUARD_OK);

    /* a hostname that is not ours is refused; with no hostname configured it is not checked */
    siteverify_stub_set_hostname(stub, "evil.example");
    CHECK_INT(verify(g, "login", "pass-host-1", NULL), GUARD_CAPTCHA_INVALID);
    cfg.hostname = "";
    struct guard *any = make(&cfg);
    CHECK_INT(verify(any, "login", "pass-host-2", NULL), GUARD_OK);
    guard_destroy(any);
    siteverify_stub_set_hostname(stub, "localhost");

    /* a secret siteverify refuses is our fault, not the citizen's: unavailable, never passed */
    cfg = captcha_config();
    cfg.secret = "0xwrong";
    struct guard *bad = make(&cfg);
    CHECK_INT(verify(bad, "login", "pass-secret", NULL), GUARD_UNAVAILABLE);
    guard_destroy(bad);

    /* siteverify down (connection refused): unavailable, and the response stays usable */
    cfg = captcha_config();
    char down[128];
    snprintf(down, sizeof(down), "http://127.0.0.1:%d/siteverify", harness_free_port());
    cfg.siteverify_url = down;
    struct guard *gd = make(&cfg);
    CHECK_INT(verify(gd, "login", "pass-down", NULL), GUARD_UNAVAILABLE);
    guard_destroy(gd);
    CHECK_INT(verify(g, "login", "pass-down", NULL), GUARD_OK);

    struct guard_stats st;
    guard_get_stats(g, &st);
    CHECK_INT(st.captcha_ok, 4);
    CHECK_INT(st.captcha_invalid, 2);
    CHECK_INT(st.captcha_reused, 1);
    CHECK_INT(st.captcha_missing, 2);
    CHECK_INT(st.captcha_unavailable, 0);
    CHECK_INT(st.pending, 0);
    guard_destroy(g);
}

static void on_ping(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c, (void)reply;
    if (err == NULL)
        (*(int *)ctx)++;
}

/* siteverify slower than the timeout: unavailable, and the loop keeps serving Redis meanwhile. */
static void test_slow(void)
{
    struct guard_config cfg = captcha_config();
    struct guard *g = make(&cfg);
    siteverify_stub_set_delay(stub, 3000);
    struct verdict r = {0};
    CHECK_INT(guard_verify_captcha(g, "booking", "pass-slow", "192.0.2.8", on_captcha, &r), 0);
    int pings = 0, sent = 0;
    long long deadline = harness_now_ms() + 5000;
    while (r.calls == 0 && harness_now_ms() < deadline) {
        if (sent == pings && redis_command(redis, on_ping, &pings, 1, (const char *[]){"PING"}, NULL) == 0)
            sent++;
        ring_run_once(ring, 10);
    }
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.v, GUARD_UNAVAILABLE);
    CHECK(pings >= 3); /* PINGs went out and came back while the verification waited */

    /* a caller that goes away: no callback, at any stage */
    struct verdict gone1 = {0}, gone2 = {0};
    CHECK_INT(guard_verify_captcha(g, "booking", "pass-gone-1", NULL, on_captcha, &gone1), 0);
    CHECK_INT(guard_verify_captcha(g, "booking", "pass-gone-2", NULL, on_captcha, &gone2), 0);
    CHECK_INT(guard_cancel(g, &gone1), 1); /* still claiming in Redis */
    unsigned long before = http_sink_count(siteverify_stub_sink(stub));
    long long until = harness_now_ms() + 3000;
    while (http_sink_count(siteverify_stub_sink(stub)) == before && harness_now_ms() < until)
        ring_run_once(ring, 10);
    CHECK_INT(guard_cancel(g, &gone2), 1); /* waiting for siteverify */
    CHECK_INT(guard_cancel(g, &gone2), 0);
    run_for(100);
    struct guard_stats st;
    guard_get_stats(g, &st);
    CHECK_INT(st.pending, 0);
    CHECK(gone1.calls == 0 && gone2.calls == 0);

    /* destroy with a verification in flight: its callback runs once, inside, with unavailable */
    struct verdict d = {0};
    CHECK_INT(guard_verify_captcha(g, "booking", "pass-destroy", NULL, on_captcha, &d), 0);
    run_for(100);
    CHECK_INT(d.calls, 0);
    guard_destroy(g);
    CHECK_INT(d.calls, 1);
    CHECK_INT(d.v, GUARD_UNAVAILABLE);
    siteverify_stub_set_delay(stub, 0);
    run_for(50);
    CHECK_INT(d.calls, 1);

    /* destroyed with an answer still deferred: answered inside destroy, nothing runs later */
    g = make(&cfg);
    struct verdict e = {0};
    CHECK_INT(guard_verify_captcha(g, "booking", NULL, NULL, on_captcha, &e), 0);
    guard_destroy(g);
    CHECK(e.calls == 1 && e.v == GUARD_UNAVAILABLE);
    run_for(30);
    CHECK_INT(e.calls, 1);
}

/* ---- rate limits ---- */

static void test_rate(void)
{
    struct guard_config cfg = {.actions = "",
                               .rate_limits = "t:ip=3/2s, t:account=10/60, g:route=2/1m, api:ip=50/60,"
                                              " login:ip=2/60",
                               .key_prefix = prefix};
    struct guard *g = make(&cfg);
    unsigned retry = 0;

    CHECK_INT(rate(g, "t", "10.0.0.1", "a1", NULL), GUARD_OK);
    CHECK_INT(rate(g, "t", "10.0.0.1", "a1", NULL), GUARD_OK);
    CHECK_INT(rate(g, "t", "10.0.0.1", "a1", NULL), GUARD_OK);
    CHECK_INT(rate(g, "t", "10.0.0.1", "a1", &retry), GUARD_RATE_LIMITED);
    CHECK(retry >= 1 && retry <= 2);
    /* the refusal took nothing from the account's bucket: 10 - 3 (plus a sliver of refill) */
    double acc = bucket_tokens("rlg:t:account:a1", 10, 60000);
    CHECK(acc >= 7.0 && acc < 7.5);
    CHECK(bucket_tokens("rlg:t:ip:10.0.0.1", 3, 2000) < 1.0);

    /* buckets are per IP and per account */
    CHECK_INT(rate(g, "t", "10.0.0.2", "a1", NULL), GUARD_OK);
    acc = bucket_tokens("rlg:t:account:a1", 10, 60000);
    CHECK(acc >= 6.0 && acc < 6.5);
    CHECK_INT(rate(g, "t", "10.0.0.1", "a2", NULL), GUARD_RATE_LIMITED);
    CHECK_INT(bucket_tokens("rlg:t:account:a2", 10, 60000), -1); /* never written: refused before any write */
    /* an unknown account consults only the IP's bucket */
    CHECK_INT(rate(g, "t", "10.0.0.3", NULL, NULL), GUARD_OK);

    /* idle buckets vanish: the keys carry a TTL of about a period */
    char key[256];
    snprintf(key, sizeof(key), "%srlg:t:ip:10.0.0.1", prefix);
    struct rec ttl = redis_run(2, (const char *[]){"PTTL", key});
    CHECK(ttl.integer > 0 && ttl.integer <= 3000);

    /* it recovers after Retry-After */
    run_for((int)retry * 1000 + 50);
    CHECK_INT(rate(g, "t", "10.0.0.1", "a1", NULL), GUARD_OK);

    /* the route dimension is shared by everyone */
    CHECK_INT(rate(g, "g", "10.1.0.1", NULL, NULL), GUARD_OK);
    CHECK_INT(rate(g, "g", "10.1.0.2", "x", NULL), GUARD_OK);
    CHECK_INT(rate(g, "g", "10.1.0.3", NULL, &retry), GUARD_RATE_LIMITED);
    CHECK(retry >= 1 && retry <= 30);

    /* several routes in one call; a refusal by one route's bucket takes nothing from the other's */
    CHECK_INT(rate(g, "api,login", "10.2.0.1", NULL, NULL), GUARD_OK);
    CHECK_INT(rate(g, "api,login", "10.2.0.1", NULL, NULL), GUARD_OK);
    CHECK_INT(rate(g, "api,login", "10.2.0.1", NULL, NULL), GUARD_RATE_LIMITED);
    double api = bucket_tokens("rlg:api:ip:10.2.0.1", 50, 60000);
    CHECK(api >= 48.0 && api < 48.5);
    CHECK_INT(rate(g, "api", "10.2.0.1", NULL, NULL), GUARD_OK);

    /* no rule applies: ok without touching Redis */
    CHECK_INT(rate(g, "other", "10.0.0.1", "a1", NULL), GUARD_OK);
    CHECK_INT(rate(g, NULL, NULL, NULL, NULL), GUARD_OK);

    /* oversized subject values are refused at the call */
    char big[GUARD_MAX_SUBJECT + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct verdict v = {0};
    CHECK_INT(guard_rate_check(g, "t", &(struct guard_subject){.account = big}, on_rate, &v), -EINVAL);
    run_for(20);
    CHECK_INT(v.calls, 0);

    struct guard_stats st;
    guard_get_stats(g, &st);
    CHECK_INT(st.rate_limited, 4);
    CHECK_INT(st.rate_ok, 13);
    CHECK_INT(st.rate_unavailable, 0);
    guard_destroy(g);
}

/*
 * Penalizes and waits for the callback: its verdict, the call's negative errno, or -1000 if the callback did
 * not run exactly once, later than the call.
 */
static int penalize(struct guard *g, const char *route, const char *account, uint64_t ms)
{
    struct verdict r = {0};
    int rc = guard_penalize(g, route, account, ms, on_captcha, &r);
    if (rc != 0)
        return rc;
    int early = r.calls;
    run_until(&r.calls, 1, 5000);
    run_for(20);
    return early == 0 && r.calls == 1 ? (int)r.v : -1000;
}

/* Penalties: guard_penalize() benches an account on a penalty route, whatever its buckets hold. */
static void test_penalty(void)
{
    struct guard_config cfg = {
        .actions = "", .rate_limits = "pb:account=100/60", .key_prefix = prefix, .penalty_routes = "pb,pn"};
    struct guard *g = make(&cfg);
    unsigned retry = 0;
    CHECK_INT(rate(g, "pb", "10.3.0.1", "p1", NULL), GUARD_OK);
    CHECK_INT(penalize(g, "pb", "p1", 2500), GUARD_OK);
    CHECK_INT(rate(g, "pb", "10.3.0.1", "p1", &retry), GUARD_RATE_LIMITED);
    CHECK(retry >= 2 && retry <= 3);
    /* the refusal took no token: 100 - 1 (plus a sliver of refill) */
    double left = bucket_tokens("rlg:pb:account:p1", 100, 60000);
    CHECK(left >= 99.0 && left < 99.5);
    /* another account, and the same account on a route that is not benched, go on */
    CHECK_INT(rate(g, "pb", "10.3.0.1", "p2", NULL), GUARD_OK);
    CHECK_INT(rate(g, "other", "10.3.0.1", "p1", NULL), GUARD_OK);
    /* a route without rules but in penalty_routes still consults the penalty */
    CHECK_INT(rate(g, "pn", "10.3.0.1", "p1", NULL), GUARD_OK);
    CHECK_INT(penalize(g, "pn", "p1", 60000), GUARD_OK);
    CHECK_INT(rate(g, "pn", "10.3.0.1", "p1", &retry), GUARD_RATE_LIMITED);
    CHECK(retry >= 59 && retry <= 60);
    /* a shorter penalty leaves a longer one; a longer one replaces a shorter one */
    CHECK_INT(penalize(g, "pn", "p1", 1000), GUARD_OK);
    CHECK_INT(rate(g, "pn", "10.3.0.1", "p1", &retry), GUARD_RATE_LIMITED);
    CHECK(retry >= 59);
    char key[256];
    snprintf(key, sizeof(key), "%spen:pb:account:p1", prefix);
    CHECK_INT(penalize(g, "pb", "p1", 90000), GUARD_OK);
    struct rec ttl = redis_run(2, (const char *[]){"PTTL", key});
    CHECK(ttl.integer > 80000 && ttl.integer <= 90000);
    CHECK_INT(penalize(g, "pb", "p1", 1000), GUARD_OK);
    ttl = redis_run(2, (const char *[]){"PTTL", key});
    CHECK(ttl.integer > 80000);
    /* it ends: a short one on a fresh account */
    CHECK_INT(penalize(g, "pb", "p3", 300), GUARD_OK);
    CHECK_INT(rate(g, "pb", "10.3.0.1", "p3", NULL), GUARD_RATE_LIMITED);
    run_for(400);
    CHECK_INT(rate(g, "pb", "10.3.0.1", "p3", NULL), GUARD_OK);
    /* bad arguments: refused at once, no callback */
    CHECK_INT(penalize(g, "pb", "", 1000), -EINVAL);
    CHECK_INT(penalize(g, "pb", "p1", 0), -EINVAL);
    struct guard_stats st;
    guard_get_stats(g, &st);
    CHECK_INT(st.penalties, 6);
    CHECK_INT(st.rate_unavailable, 0);
    CHECK_INT(st.pending, 0);
    guard_destroy(g);
}

/*
 * The memory of refusals: a set of buckets Redis refused is refused again without Redis until the time it
 * gave. Shown by deleting the bucket in Redis: a guard without the memory passes then, one with it does not.
 */
static void test_refusal_memory(void)
{
    struct guard_config cfg = {.actions = "",
                               .rate_limits = "m:ip=2/3s, m:account=100/60",
                               .key_prefix = prefix,
                               .penalty_routes = "m",
                               .refusal_slots = 16};
    struct guard *g = make(&cfg);
    struct guard_config plain = cfg;
    plain.refusal_slots = 0;
    struct guard *p = make(&plain);
    unsigned retry = 0;
    struct guard_stats st;
    struct guard_subject s1 = {.ip = "10.6.0.1", .account = "m1"};

    CHECK_INT(rate(g, "m", "10.6.0.1", "m1", NULL), GUARD_OK);
    CHECK_INT(rate(g, "m", "10.6.0.1", "m1", NULL), GUARD_OK);
    CHECK_INT(guard_rate_refused(g, "m", &s1, &retry), 0); /* nothing refused yet */
    CHECK_INT(rate(g, "m", "10.6.0.1", "m1", &retry), GUARD_RATE_LIMITED); /* Redis's refusal */
    CHECK(retry >= 1 && retry <= 2);
    guard_get_stats(g, &st);
    CHECK_INT(st.rate_remembered, 0);

    /* the bucket gone from Redis: the plain guard passes, the remembering one still refuses */
    char key[256];
    snprintf(key, sizeof(key), "%srlg:m:ip:10.6.0.1", prefix);
    CHECK_INT(redis_run(2, (const char *[]){"DEL", key}).integer, 1);
    CHECK_INT(rate(g, "m", "10.6.0.1", "m1", &retry), GUARD_RATE_LIMITED);
    CHECK(retry >= 1 && retry <= 2);
    CHECK_INT(guard_rate_refused(g, "m", &s1, &retry), 1);
    CHECK(retry >= 1 && retry <= 2);
    guard_get_stats(g, &st);
    CHECK_INT(st.rate_remembered, 2);
    CHECK_INT(st.rate_limited, 3);
    CHECK_INT(rate(p, "m", "10.6.0.1", "m1", NULL), GUARD_OK);
    CHECK(bucket_tokens("rlg:m:ip:10.6.0.1", 2, 3000) < 1.5); /* the plain guard's token, not another */

    /* another set of buckets (other IP; or the same IP with another account) is asked of Redis */
    CHECK_INT(rate(g, "m", "10.6.0.2", "m1", NULL), GUARD_OK);
    CHECK_INT(rate(g, "m", "10.6.0.1", "m9", NULL), GUARD_OK);
    struct guard_subject other = {.ip = "10.6.0.3", .account = "m1"};
    CHECK_INT(guard_rate_refused(g, "m", &other, &retry), 0);
    CHECK_INT(retry, 0);
    char big[GUARD_MAX_SUBJECT + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT(guard_rate_refused(g, "m", &(struct guard_subject){.account = big}, &retry), -EINVAL);
    CHECK_INT(guard_rate_refused(p, "m", &s1, &retry), 0); /* no memory: always unknown */

    /* the memory ends when Redis said: the check goes to Redis again */
    run_for(2100);
    CHECK_INT(rate(g, "m", "10.6.0.1", "m1", NULL), GUARD_OK);

    /* a penalty's refusal is remembered for the penalty's time */
    CHECK_INT(penalize(g, "m", "m2", 1500), GUARD_OK);
    CHECK_INT(rate(g, "m", "10.6.0.4", "m2", NULL), GUARD_RATE_LIMITED);
    snprintf(key, sizeof(key), "%spen:m:account:m2", prefix);
    CHECK_INT(redis_run(2, (const char *[]){"DEL", key}).integer, 1);
    CHECK_INT(rate(g, "m", "10.6.0.4", "m2", &retry), GUARD_RATE_LIMITED);
    CHECK(retry >= 1 && retry <= 2);
    guard_get_stats(g, &st);
    CHECK_INT(st.rate_remembered, 3);
    run_for(1600);
    CHECK_INT(rate(g, "m", "10.6.0.4", "m2", NULL), GUARD_OK);
    guard_destroy(g);
    guard_destroy(p);

    /* one slot: a newer refusal takes it, and the older set is asked of Redis again */
    cfg.refusal_slots = 1;
    cfg.rate_limits = "n:ip=1/60";
    g = make(&cfg);
    CHECK_INT(rate(g, "n", "10.7.0.1", NULL, NULL), GUARD_OK);
    CHECK_INT(rate(g, "n", "10.7.0.1", NULL, NULL), GUARD_RATE_LIMITED);
    CHECK_INT(rate(g, "n", "10.7.0.1", NULL, NULL), GUARD_RATE_LIMITED);
    CHECK_INT(rate(g, "n", "10.7.0.2", NULL, NULL), GUARD_OK);
    CHECK_INT(rate(g, "n", "10.7.0.2", NULL, NULL), GUARD_RATE_LIMITED);
    CHECK_INT(rate(g, "n", "10.7.0.1", NULL, NULL), GUARD_RATE_LIMITED);
    guard_get_stats(g, &st);
    CHECK_INT(st.rate_remembered, 1);
    CHECK_INT(st.rate_limited, 4);
    guard_destroy(g);
}

/*
 * The guarantee the booking route relies on: once the callback said GUARD_OK, a rate check made through
 * another guard on another Redis connection (another worker) is benched, with no loop turn in between.
 */
static void test_penalty_other_worker(int port)
{
    struct redis_client *redis2 = NULL;
    struct redis_config rcfg = {.host = "127.0.0.1", .port = port};
    CHECK_INT(redis_client_create(ring, &rcfg, &redis2), 0);
    struct guard_config cfg = {.actions = "", .key_prefix = prefix, .penalty_routes = "pw"};
    struct guard *g = make(&cfg), *g2 = NULL;
    char err[256];
    CHECK_INT(guard_create(ring, redis2, curl, &cfg, &g2, err, sizeof(err)), 0);
    CHECK_INT(rate(g2, "pw", "10.4.0.1", "w0", NULL), GUARD_OK); /* redis2 is connected */
    for (int i = 0; i < 20; i++) {
        char account[16];
        snprintf(account, sizeof(account), "w%d", i);
        struct verdict p = {0}, r = {0};
        CHECK_INT(guard_penalize(g, "pw", account, 5000, on_captcha, &p), 0);
        CHECK_INT(p.calls, 0);
        run_until(&p.calls, 1, 3000);
        CHECK(p.calls == 1 && p.v == GUARD_OK);
        /* started from the loop turn that ran the callback, before anything else is sent */
        struct guard_subject s = {.ip = "10.4.0.1", .account = account};
        CHECK_INT(guard_rate_check(g2, "pw", &s, on_rate, &r), 0);
        run_until(&r.calls, 1, 3000);
        CHECK_INT(r.v, GUARD_RATE_LIMITED);
    }

    /* a caller that goes away: no callback, but the penalty is still written */
    struct verdict gone = {0};
    CHECK_INT(guard_penalize(g, "pw", "wgone", 5000, on_captcha, &gone), 0);
    CHECK_INT(guard_cancel(g, &gone), 1);
    run_for(50);
    CHECK_INT(gone.calls, 0);
    CHECK_INT(rate(g2, "pw", "10.4.0.1", "wgone", NULL), GUARD_RATE_LIMITED);
    /* fire and forget (NULL callback) */
    CHECK_INT(guard_penalize(g, "pw", "wnull", 5000, NULL, NULL), 0);
    run_for(50);
    CHECK_INT(rate(g2, "pw", "10.4.0.1", "wnull", NULL), GUARD_RATE_LIMITED);
    struct guard_stats st;
    guard_get_stats(g, &st);
    CHECK_INT(st.pending, 0);
    CHECK_INT(st.penalties, 22);

    /* destroyed with a penalty in flight: its callback runs once, inside, with unavailable */
    struct verdict d = {0};
    CHECK_INT(guard_penalize(g, "pw", "wdestroy", 5000, on_captcha, &d), 0);
    guard_destroy(g);
    CHECK(d.calls == 1 && d.v == GUARD_UNAVAILABLE);
    run_for(50);
    CHECK_INT(d.calls, 1);
    guard_destroy(g2);
    redis_client_destroy(redis2);
    run_for(50);
}

/* A configuration refused with a message naming the rule; 1 if so. */
static int refused(const char *rules, const char *needle)
{
    struct guard_config cfg = {.actions = "", .rate_limits = rules};
    char err[256] = "";
    int rc = guard_config_check(&cfg, err, sizeof(err));
    if (rc != -EINVAL || strstr(err, needle) == NULL) {
        fprintf(stderr, "rules \"%s\": rc %d, message \"%s\"\n", rules, rc, err);
        return 0;
    }
    return 1;
}

static void test_config(void)
{
    CHECK(refused("login:ip=20", "rule 1 \"login:ip=20\""));
    CHECK(refused("login:ip=20/60, login:ipx=5/60", "rule 2 \"login:ipx=5/60\": the dimension must be"));
    CHECK(refused("login:ip=0/60", "capacity"));
    CHECK(refused("login:ip=20/0", "period"));
    CHECK(refused("login:ip=20/60x", "unexpected characters"));
    CHECK(refused("login:ip=20/9999999", "period"));
    CHECK(refused("login:ip=20/60,", "rule 2 \"\": empty rule"));
    CHECK(refused("LOGIN:ip=1/1", "route"));
    CHECK(refused("ip=1/1", "ROUTE:DIMENSION"));
    CHECK(refused("a:ip=1/1,a:ip=2/2", "duplicate"));
    CHECK(refused("a:ip=99999999999999999999/1", "capacity"));

    char err[256];
    struct guard_config ok = {.actions = "",
                              .rate_limits = " *:ip=10/1m , a-b_c:document=1/1h,x:route=5/30 "};
    CHECK_INT(guard_config_check(&ok, err, sizeof(err)), 0);
    ok.rate_limits = NULL;
    CHECK_INT(guard_config_check(&ok, err, sizeof(err)), 0);

    /* captcha settings */
    struct guard_config c = {.secret = ""};
    CHECK_INT(guard_config_check(&c, err, sizeof(err)), -EINVAL); /* default actions need a secret */
    CHECK(strstr(err, "hcaptcha_secret") != NULL);
    c.secret = "s";
    CHECK_INT(guard_config_check(&c, err, sizeof(err)), 0);
    c.actions = "login,Booking";
    CHECK_INT(guard_config_check(&c, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "captcha_actions") != NULL && strstr(err, "Booking") != NULL);
    c.actions = "login";
    c.siteverify_url = "ftp://x";
    CHECK_INT(guard_config_check(&c, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "hcaptcha_siteverify_url") != NULL);
    c.siteverify_url = NULL;
    c.hostname = "a.example,,b";
    CHECK_INT(guard_config_check(&c, err, sizeof(err)), -EINVAL);

    struct guard *g = (struct guard *)&c;
    c.hostname = NULL;
    c.rate_limits = "x:ip=1";
    CHECK_INT(guard_create(ring, redis, curl, &c, &g, err, sizeof(err)), -EINVAL);
    CHECK(g == NULL);
    CHECK(strstr(err, "rate_limits") != NULL);
}

/* Redis down: neither a captcha nor a rate check passes. */
static void test_redis_down(pid_t *redis_pid)
{
    struct guard_config cfg = captcha_config();
    cfg.rate_limits = "t:ip=3/60";
    struct guard *g = make(&cfg);
    harness_kill(*redis_pid, SIGKILL, 3000);
    *redis_pid = -1;
    run_for(100);
    CHECK_INT(verify(g, "login", "pass-no-redis", NULL), GUARD_UNAVAILABLE);
    CHECK_INT(rate(g, "t", "10.9.0.1", NULL, NULL), GUARD_UNAVAILABLE);
    /* a penalty Redis cannot store is answered, as unavailable */
    CHECK_INT(penalize(g, "booking", "acct-no-redis", 1000), GUARD_UNAVAILABLE);
    struct guard_stats st;
    guard_get_stats(g, &st);
    CHECK(st.captcha_unavailable == 1 && st.rate_unavailable == 2 && st.pending == 0);
    guard_destroy(g);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    int port = harness_free_port();
    pid_t redis_pid = harness_redis_start(port);
    CHECK(redis_pid > 0);
    if (redis_pid <= 0)
        return harness_finish("guard");
    snprintf(prefix, sizeof(prefix), "test:%d:", (int)getpid());
    CHECK_INT(curl_client_global_init(), 0);
    h2o_evloop_t *loop = h2o_evloop_create();
    CHECK_INT(ring_create(loop, 256, &ring), 0);
    struct redis_config rcfg = {.host = "127.0.0.1", .port = port};
    CHECK_INT(redis_client_create(ring, &rcfg, &redis), 0);
    CHECK_INT(curl_client_create(ring, NULL, &curl), 0);
    CHECK_INT(siteverify_stub_start(0, &stub), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/siteverify", siteverify_stub_port(stub));
    struct rec ping = redis_run(1, (const char *[]){"PING"});
    CHECK(ping.calls == 1 && !ping.err);

    test_config();
    test_captcha();
    test_slow();
    test_rate();
    test_penalty();
    test_refusal_memory();
    test_penalty_other_worker(port);
    test_redis_down(&redis_pid);

    curl_client_destroy(curl);
    redis_client_destroy(redis);
    run_for(50);
    siteverify_stub_stop(stub);
    ring_destroy(ring);
    h2o_evloop_destroy(loop);
    curl_client_global_cleanup();
    if (redis_pid > 0)
        harness_kill(redis_pid, SIGTERM, 3000);
    return harness_finish("guard");
}
