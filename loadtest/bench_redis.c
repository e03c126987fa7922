/*
 * bench_redis: pushes N EVALSHA calls of a small script through citas' Redis client with a window of
 * in-flight calls, and prints calls/s. Not a test: see loadtest/bench-redis, which also runs
 * redis-benchmark on the same server for comparison.
 *
 * usage: bench_redis PORT [CALLS [WINDOW]]     (defaults: 1000000 calls, 10000 in flight)
 */
#include "citas/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* keep in sync with loadtest/bench-redis, which loads the same text for redis-benchmark */
#define SCRIPT "return redis.call('INCR', KEYS[1])"

struct bench {
    struct redis_client *client;
    struct redis_script *script;
    long total, issued, done, errors, inflight, window;
    long long last;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_reply(struct redis_client *c, const redisReply *reply, const char *err, void *ctx);

static void issue(struct bench *b)
{
    static const char *argv[] = {"key"};
    static const size_t argvlen[] = {3};
    while (b->inflight < b->window && b->issued < b->total) {
        if (redis_evalsha(b->client, b->script, 1, 1, argv, argvlen, on_reply, b) != 0) {
            b->errors++;
            b->issued++;
            b->done++;
            continue;
        }
        b->issued++;
        b->inflight++;
    }
}

static void on_reply(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    struct bench *b = ctx;
    (void)c;
    b->inflight--;
    b->done++;
    if (err != NULL || reply->type != REDIS_REPLY_INTEGER)
        b->errors++;
    else
        b->last = reply->integer;
    /* refill at once: the new calls leave with this turn's send */
    issue(b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [CALLS [WINDOW]]\n", argv[0]);
        return 2;
    }
    struct bench b = {.total = argc > 2 ? atol(argv[2]) : 1000000,
                      .window = argc > 3 ? atol(argv[3]) : 10000};
    if (b.total <= 0 || b.window <= 0) {
        fprintf(stderr, "bench_redis: CALLS and WINDOW must be positive\n");
        return 2;
    }
    h2o_evloop_t *loop = h2o_evloop_create();
    struct ring *ring;
    int rc = ring_create(loop, 256, &ring);
    if (rc < 0) {
        fprintf(stderr, "bench_redis: ring_create: %s\n", strerror(-rc));
        return 1;
    }
    struct redis_config cfg = {.host = "127.0.0.1", .port = atoi(argv[1]), .timeout_ms = 10000};
    b.script = redis_script_create(SCRIPT);
    rc = b.script ? redis_client_create(ring, &cfg, &b.client) : -12;
    if (rc < 0) {
        fprintf(stderr, "bench_redis: redis_client_create: %s\n", strerror(-rc));
        return 1;
    }
    double deadline = now_s() + 5;
    while (!redis_is_connected(b.client) && now_s() < deadline)
        ring_run_once(ring, 10);
    if (!redis_is_connected(b.client)) {
        fprintf(stderr, "bench_redis: cannot connect to 127.0.0.1:%s\n", argv[1]);
        return 1;
    }

    double start = now_s();
    issue(&b);
    while (b.done < b.total)
        ring_run_once(ring, 100);
    double secs = now_s() - start;

    struct redis_stats st;
    redis_get_stats(b.client, &st);
    printf("bench_redis: %ld EVALSHA calls, window %ld: %.3f s, %.0f calls/s; %ld errors; "
           "%llu sends, %llu script retries, last value %lld\n",
           b.total, b.window, secs, (double)b.total / secs, b.errors, (unsigned long long)st.sends,
           (unsigned long long)st.script_retries, b.last);
    redis_client_destroy(b.client);
    for (int i = 0; i < 3; i++)
        ring_run_once(ring, 0);
    redis_script_free(b.script);
    ring_destroy(ring);
    h2o_evloop_destroy(loop);
    return b.errors == 0 ? 0 : 1;
}
