/*
 * mail's quick queue (one-time codes through a Redis list) against a private redis-server and the
 * in-process smtp-sink:
 *
 *   1. 1,000 login codes queued with mail_quick_enqueue(): each recipient gets exactly one message, with its
 *      own code in the text part and X-Citas-Kind login_code; the list ends empty;
 *      a small in-flight cap (3, pops of 2) drains 40 messages without stalling;
 *   2. refused input: an attachment, a bad address, an unknown language (nothing queued);
 *   3. SMTP down: entries go back on the list until max_attempts, then are dropped; with the sink up again
 *      later, a message still within its attempts arrives; a 550 recipient is dropped at once; a malformed
 *      entry pushed by hand is counted as failed and does not stop the queue.
 */
#include "citas/mail.h"
#include "citas/redis.h"
#include "eml.h"
#include "harness.h"
#include "smtp_sink.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BULK 1000

static struct ring *ring;
static struct redis_client *redis;
static struct curl_client *curl;
static int pid;

static int run_until(int (*pred)(const void *), const void *arg, int timeout_ms)
{
    long long end = harness_now_ms() + timeout_ms;
    for (;;) {
        if (pred(arg))
            return 1;
        if (harness_now_ms() >= end)
            return 0;
        ring_run_once(ring, 5);
    }
}

static void run_for(int ms)
{
    long long end = harness_now_ms() + ms;
    while (harness_now_ms() < end)
        ring_run_once(ring, 5);
}

static int count_at_least(const void *arg)
{
    const int *p = arg;
    return p[0] >= p[1];
}

static void on_llen(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    long long *out = ctx;
    out[0] = err == NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    out[1] = 1;
}

static long long list_len(void)
{
    long long v[2] = {-1, 0};
    const char *argv[] = {"LLEN", MAIL_QUICK_LIST};
    if (redis_command(redis, on_llen, v, 2, argv, NULL) != 0)
        return -1;
    long long end = harness_now_ms() + 3000;
    while (v[1] == 0 && harness_now_ms() < end)
        ring_run_once(ring, 5);
    return v[0];
}

static void on_queued(int rc, void *ctx)
{
    int *n = ctx; /* n[0]: callbacks, n[2]: failures */
    n[0]++;
    if (rc != 0)
        n[2]++;
}

static int enqueue(const char *to, const char *lang, const char *code, int *counter)
{
    const struct mail_param p[] = {{"code", code}, {"minutes", "10"}};
    struct mail_message m = {.to = to, .lang = lang, .kind = MAIL_LOGIN_CODE, .params = p, .nparams = 2};
    return mail_quick_enqueue(redis, &m, on_queued, counter);
}

static int sink_count_at_least(const void *arg)
{
    const struct {
        struct smtp_sink *s;
        unsigned long n;
    } *w = arg;
    return smtp_sink_count(w->s) >= w->n;
}

static struct mail_config config(const char *url)
{
    return (struct mail_config){.smtp_url = url,
                                .smtp_starttls = CURL_CLIENT_STARTTLS_NONE,
                                .smtp_timeout_ms = 5000,
                                .from = "Citas Test <no-reply@citas.test>",
                                .poll_ms = 20,
                                .batch = 64,
                                .max_attempts = 3};
}

/* An SMTP sink writing into dir and its URL in url; NULL (a failed check) when it could not start. */
static struct smtp_sink *start_sink(const char *dir, char *url, size_t cap)
{
    struct smtp_sink *sink = NULL;
    CHECK_INT(smtp_sink_start(0, dir, &sink), 0);
    if (sink != NULL)
        snprintf(url, cap, "smtp://127.0.0.1:%d", smtp_sink_port(sink));
    return sink;
}

static void test_bulk(const char *dir)
{
    char url[64];
    struct smtp_sink *sink = start_sink(dir, url, sizeof(url));
    if (sink == NULL)
        return;
    struct mail_config cfg = config(url);
    struct mail_quick *q = NULL;
    long long t0 = harness_now_ms();
    CHECK_INT(mail_quick_create(ring, redis, curl, &cfg, &q), 0);
    int counter[3] = {0, BULK, 0};
    for (int i = 0; i < BULK; i++) {
        char to[96], code[8];
        snprintf(to, sizeof(to), "quick-%d-%d@example.test", i, pid);
        snprintf(code, sizeof(code), "%06d", (i * 7919) % 1000000);
        CHECK_INT(enqueue(to, i % 2 ? "en" : "es", code, counter), 0);
    }
    CHECK(run_until(count_at_least, counter, 10000));
    CHECK_INT(counter[2], 0);
    struct {
        struct smtp_sink *s;
        unsigned long n;
    } w = {sink, BULK};
    CHECK(run_until(sink_count_at_least, &w, 60000));
    long long t1 = harness_now_ms();
    printf("mail quick: %d login codes to smtp-sink in %lld ms (%.0f/s)\n", BULK, t1 - t0,
           BULK * 1000.0 / (double)(t1 - t0 + 1));
    run_for(300); /* nothing more arrives */
    CHECK_INT(smtp_sink_count(sink), BULK);
    CHECK_INT(list_len(), 0);
    struct mail_quick_stats st = {0};
    if (q != NULL)
        mail_quick_get_stats(q, &st);
    CHECK_INT(st.sent, BULK);
    CHECK_INT(st.failed, 0);
    CHECK_INT(st.in_flight, 0);
    mail_quick_destroy(q);
    smtp_sink_stop(sink);

    /* every recipient exactly once, with its own code */
    static unsigned char seen[BULK];
    memset(seen, 0, sizeof(seen));
    int files = 0, bad = 0;
    DIR *dh = opendir(dir);
    struct dirent *de;
    while (dh != NULL && (de = readdir(dh)) != NULL) {
        if (strstr(de->d_name, ".eml") == NULL)
            continue;
        char path[1024], h[256], kind[64];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct eml e;
        if (eml_load(path, &e) != 0) {
            bad++;
            continue;
        }
        eml_header(&e, "X-Sink-To", 0, h, sizeof(h));
        eml_header(&e, "X-Citas-Kind", 0, kind, sizeof(kind));
        const struct eml_part *text = eml_part(&e, "text/plain");
        int k = -1, got = -1;
        char code[8];
        if (sscanf(h, "<quick-%d-%d@example.test>", &k, &got) == 2 && got == pid && k >= 0 && k < BULK &&
            strcmp(kind, "login_code") == 0 && text != NULL &&
            (snprintf(code, sizeof(code), "%06d", (k * 7919) % 1000000),
             strstr((const char *)text->data, code) != NULL) &&
            seen[k] < 255)
            seen[k]++;
        else
            bad++;
        eml_free(&e);
        files++;
    }
    if (dh != NULL)
        closedir(dh);
    CHECK_INT(files, BULK);
    CHECK_INT(bad, 0);
    int once = 0;
    for (int k = 0; k < BULK; k++)
        once += seen[k] == 1;
    CHECK_INT(once, BULK);
}

/* A small in-flight cap: pops that fill it exactly must not stall the queue. */
static void test_cap(const char *dir)
{
    char url[64];
    struct smtp_sink *sink = start_sink(dir, url, sizeof(url));
    if (sink == NULL)
        return;
    struct mail_config cfg = config(url);
    cfg.max_in_flight = 3;
    cfg.batch = 2;
    cfg.poll_ms = 200;
    struct mail_quick *q = NULL;
    CHECK_INT(mail_quick_create(ring, redis, curl, &cfg, &q), 0);
    int counter[3] = {0, 40, 0};
    for (int i = 0; i < 40; i++) {
        char to[96];
        snprintf(to, sizeof(to), "cap-%d-%d@example.test", i, pid);
        CHECK_INT(enqueue(to, "es", "123456", counter), 0);
    }
    struct {
        struct smtp_sink *s;
        unsigned long n;
    } w = {sink, 40};
    CHECK(run_until(sink_count_at_least, &w, 20000));
    CHECK_INT(smtp_sink_count(sink), 40);
    CHECK_INT(list_len(), 0);
    mail_quick_destroy(q);
    smtp_sink_stop(sink);
}

static void test_refused(void)
{
    int counter[3] = {0, 0, 0};
    CHECK_INT(enqueue("not an address", "es", "123456", counter), -EINVAL);
    CHECK_INT(enqueue("x@example.test", "fr", "123456", counter), -EINVAL);
    const struct mail_param p[] = {{"code", "123456"}, {"minutes", "10"}};
    struct mail_attachment att = {"a.ics", "text/calendar", "x", 1};
    struct mail_message m = {"x@example.test", "es", MAIL_LOGIN_CODE, p, 2, &att};
    CHECK_INT(mail_quick_enqueue(redis, &m, on_queued, counter), -EINVAL);
    run_for(50);
    CHECK_INT(counter[0], 0);
    CHECK_INT(list_len(), 0);
}

static int stats_failed_at_least(const void *arg)
{
    const struct {
        struct mail_quick *q;
        uint64_t n;
    } *w = arg;
    struct mail_quick_stats st;
    mail_quick_get_stats(w->q, &st);
    return st.failed >= w->n;
}

static void test_failures(const char *dir)
{
    int port = harness_free_port();
    char url[64];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
    struct mail_config cfg = config(url);
    struct mail_quick *q = NULL;
    CHECK_INT(mail_quick_create(ring, redis, curl, &cfg, &q), 0);
    if (q == NULL)
        return;
    /* nobody listens: 3 attempts each, then dropped */
    int counter[3] = {0, 2, 0};
    CHECK_INT(enqueue("down-1@example.test", "es", "111111", counter), 0);
    CHECK_INT(enqueue("down-2@example.test", "en", "222222", counter), 0);
    struct {
        struct mail_quick *q;
        uint64_t n;
    } w = {q, 2};
    CHECK(run_until(stats_failed_at_least, &w, 15000));
    struct mail_quick_stats st;
    mail_quick_get_stats(q, &st);
    CHECK_INT(st.failed, 2);
    CHECK_INT(st.retries, 4);
    CHECK_INT(st.sent, 0);
    CHECK_INT(list_len(), 0);

    /* a malformed entry pushed by someone else is dropped, counted, and the queue goes on */
    const char *argv[] = {"RPUSH", MAIL_QUICK_LIST, "garbage"};
    long long v[2] = {0, 0};
    CHECK_INT(redis_command(redis, on_llen, v, 3, argv, NULL), 0);
    w.n = 3;
    CHECK(run_until(stats_failed_at_least, &w, 5000));

    /* with the sink up on that port, a new message arrives; a 550 recipient is dropped without retries */
    struct smtp_sink *sink = NULL;
    CHECK_INT(smtp_sink_start(port, dir, &sink), 0);
    if (sink == NULL) {
        mail_quick_destroy(q);
        return;
    }
    int c2[3] = {0, 2, 0};
    CHECK_INT(enqueue("up@example.test", "es", "333333", c2), 0);
    CHECK_INT(enqueue("reject-me@example.test", "es", "444444", c2), 0);
    struct {
        struct smtp_sink *s;
        unsigned long n;
    } sw = {sink, 1};
    CHECK(run_until(sink_count_at_least, &sw, 10000));
    w.n = 4;
    CHECK(run_until(stats_failed_at_least, &w, 10000));
    run_for(200);
    mail_quick_get_stats(q, &st);
    CHECK_INT(st.sent, 1);
    CHECK_INT(st.failed, 4);
    CHECK_INT(st.retries, 4); /* the 550 was not retried */
    CHECK_INT(smtp_sink_count(sink), 1);
    CHECK_INT(list_len(), 0);
    mail_quick_destroy(q);
    smtp_sink_stop(sink);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    pid = (int)getpid();
    const char *tmp = harness_env("CITAS_TEST_TMPDIR");
    int port = harness_free_port();
    pid_t redis_pid = harness_redis_start(port);
    CHECK(redis_pid > 0);
    if (redis_pid <= 0)
        return harness_finish("mail_quick");
    h2o_evloop_t *loop = h2o_evloop_create();
    CHECK_INT(curl_client_global_init(), 0);
    CHECK_INT(ring_create(loop, 256, &ring), 0);
    struct redis_config rcfg = {.host = "127.0.0.1", .port = port};
    CHECK_INT(redis_client_create(ring, &rcfg, &redis), 0);
    CHECK_INT(curl_client_create(ring, NULL, &curl), 0);

    struct mail_quick *bad = NULL;
    struct mail_config cfg = {.smtp_url = NULL};
    CHECK_INT(mail_quick_create(ring, redis, curl, &cfg, &bad), -EINVAL);
    CHECK(bad == NULL);
    mail_quick_destroy(NULL);

    char d1[512], d2[512], d3[512];
    snprintf(d1, sizeof(d1), "%s/mail-quick-%d-bulk", tmp, pid);
    snprintf(d2, sizeof(d2), "%s/mail-quick-%d-failures", tmp, pid);
    snprintf(d3, sizeof(d3), "%s/mail-quick-%d-cap", tmp, pid);
    mkdir(d1, 0700);
    mkdir(d2, 0700);
    mkdir(d3, 0700);
    if (ring != NULL && redis != NULL && curl != NULL) {
        test_refused();
        test_bulk(d1);
        test_cap(d3);
        test_failures(d2);
    }

    curl_client_destroy(curl);
    redis_client_destroy(redis);
    run_for(50);
    ring_destroy(ring);
    h2o_evloop_destroy(loop);
    curl_client_global_cleanup();
    harness_kill(redis_pid, SIGTERM, 3000);
    return harness_finish("mail_quick");
}
