/* ring: timers, socket I/O, cancellation, end-of-turn batching and mid-turn pokes on a real io_uring and
 * h2o loop. */
#include "citas/ring.h"
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct result {
    int done;
    int res;
    int calls;
};

static void on_done(struct ring_op *op, int res)
{
    struct result *r = op->data;
    r->done = 1;
    r->res = res;
    r->calls++;
}

static void run_until(struct ring *r, int *flag, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    while (!*flag && harness_now_ms() < deadline)
        ring_run_once(r, 10);
}

struct deferred {
    struct ring_defer d;
    struct ring *ring;
    int runs;
};

static void on_defer(struct ring_defer *d)
{
    struct deferred *x = (struct deferred *)d;
    x->runs++;
}

/* A completion that pokes its own ring: the poke must refuse (it would run callbacks inside callbacks). */
struct poker {
    struct ring_op op;
    struct ring *ring;
    int done, poke_rc;
};

static void on_poker(struct ring_op *op, int res)
{
    (void)res;
    struct poker *p = op->data;
    p->poke_rc = ring_poke(p->ring);
    p->done = 1;
}

static void sleep_ms(int ms)
{
    long long until = harness_now_ms() + ms;
    while (harness_now_ms() < until)
        usleep(500);
}

static int count_done(const struct result *v, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += v[i].calls;
    return k;
}

static uint64_t queued_over(const struct ring_stats *st, unsigned first_bucket)
{
    uint64_t n = 0;
    for (unsigned b = first_bucket; b < RING_HIST_BUCKETS; b++)
        n += st->queued.n[b];
    return n;
}

/* Flushes, queues a poll of `fd` on `op`, waits `ms` and pokes: returns what the poke returned, with the
 * ring's counters just before and after it. */
static int poll_then_poke(struct ring *r, struct ring_op *op, int fd, int ms, struct ring_stats *before,
                          struct ring_stats *after)
{
    ring_flush(r);
    CHECK_INT(ring_poll(r, op, fd, POLLIN), 0);
    sleep_ms(ms);
    ring_get_stats(r, before);
    int rc = ring_poke(r);
    ring_get_stats(r, after);
    return rc;
}

/* ring_poke(): off by default; otherwise it flushes once the interval has passed since the last flush and
 * delivers at most its budget of completions; never from inside a completion. */
static void test_poke(struct ring *r)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK_INT(write(sv[0], "x", 1), 1); /* sv[1] stays readable: its polls complete at submit */

    struct ring_stats a, b;
    struct result polls[5] = {{0}};
    struct ring_op pops[5];
    for (int i = 0; i < 5; i++)
        pops[i] = (struct ring_op){.cb = on_done, .data = &polls[i]};

    /* off: nothing leaves */
    CHECK_INT(poll_then_poke(r, &pops[0], sv[1], 3, &a, &b), 0);
    CHECK_INT(b.submits - a.submits, 0);
    CHECK_INT(polls[0].calls, 0);
    /* the flush finds the poll queued for 3 ms or more: counted above the 2 ms bucket */
    ring_flush(r);
    ring_get_stats(r, &b);
    CHECK_INT(queued_over(&b, 3) - queued_over(&a, 3), 1);
    run_until(r, &polls[0].done, 2000);

    /* too soon after the last flush: an interval of 100 s */
    ring_set_poke(r, 100000000, 2);
    for (int i = 0; i < 5; i++)
        polls[i] = (struct result){0};
    ring_flush(r);
    for (int i = 0; i < 5; i++)
        CHECK_INT(ring_poll(r, &pops[i], sv[1], POLLIN), 0);
    CHECK_INT(ring_poke(r), 0);
    /* 1 ms, at most 2 completions per poke */
    ring_set_poke(r, 1000, 2);
    ring_get_stats(r, &a);
    sleep_ms(2);
    CHECK_INT(ring_poke(r), 1);
    ring_get_stats(r, &b);
    CHECK_INT(b.submits - a.submits, 1);
    CHECK_INT(b.sqes - a.sqes, 5);
    CHECK_INT(b.pokes - a.pokes, 1);
    CHECK_INT(count_done(polls, 5), 2);
    sleep_ms(2);
    CHECK_INT(ring_poke(r), 1); /* nothing to submit, two more completions delivered */
    CHECK_INT(count_done(polls, 5), 4);
    ring_get_stats(r, &a);
    run_until(r, &polls[4].done, 2000);
    CHECK_INT(count_done(polls, 5), 5);
    /* the turn that delivered the last completion is counted as a busy turn */
    ring_get_stats(r, &b);
    uint64_t turns_a = 0, turns_b = 0;
    for (unsigned k = 0; k < RING_HIST_BUCKETS; k++)
        turns_a += a.turns.n[k], turns_b += b.turns.n[k];
    CHECK(turns_b > turns_a);

    /* a completion callback cannot poke */
    struct poker pk = {.op = {.cb = on_poker}, .ring = r};
    pk.op.data = &pk;
    CHECK_INT(ring_poll(r, &pk.op, sv[1], POLLIN), 0);
    ring_flush(r);
    sleep_ms(2);
    run_until(r, &pk.done, 2000);
    CHECK_INT(pk.poke_rc, 0);

    /* a budget of 0 only submits */
    ring_set_poke(r, 1000, 0);
    polls[0] = (struct result){0};
    CHECK_INT(poll_then_poke(r, &pops[0], sv[1], 2, &a, &b), 1);
    CHECK_INT(b.sqes - a.sqes, 1);
    CHECK_INT(polls[0].calls, 0);
    run_until(r, &polls[0].done, 2000);
    CHECK_INT(polls[0].calls, 1);

    ring_set_poke(r, 0, 0);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    h2o_evloop_t *loop = h2o_evloop_create();
    struct ring *r;
    CHECK_INT(ring_create(loop, 64, &r), 0);

    /* a timer fires with -ETIME, not before its time */
    struct result t = {0};
    struct ring_op top = {.cb = on_done, .data = &t};
    long long start = harness_now_ms();
    CHECK_INT(ring_timeout(r, &top, 50), 0);
    run_until(r, &t.done, 2000);
    CHECK_INT(t.res, -ETIME);
    CHECK(harness_now_ms() - start >= 45);

    /* send and recv on a socket pair */
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct result s = {0}, rv = {0};
    struct ring_op sop = {.cb = on_done, .data = &s}, rop = {.cb = on_done, .data = &rv};
    char buf[16] = {0};
    CHECK_INT(ring_recv(r, &rop, sv[1], buf, sizeof(buf)), 0);
    CHECK_INT(ring_send(r, &sop, sv[0], "hola", 4), 0);
    run_until(r, &rv.done, 2000);
    CHECK_INT(s.res, 4);
    CHECK_INT(rv.res, 4);
    CHECK(memcmp(buf, "hola", 4) == 0);

    /* poll reports readability */
    struct result p = {0};
    struct ring_op pop = {.cb = on_done, .data = &p};
    CHECK_INT(ring_poll(r, &pop, sv[1], POLLIN), 0);
    CHECK_INT(write(sv[0], "x", 1), 1);
    run_until(r, &p.done, 2000);
    CHECK(p.res > 0 && (p.res & POLLIN));

    /* a cancelled timer completes once, with -ECANCELED */
    struct result c = {0};
    struct ring_op cop = {.cb = on_done, .data = &c};
    CHECK_INT(ring_timeout(r, &cop, 60000), 0);
    ring_flush(r);
    CHECK_INT(ring_cancel(r, &cop), 0);
    run_until(r, &c.done, 2000);
    CHECK_INT(c.res, -ECANCELED);
    ring_run_once(r, 20);
    CHECK_INT(c.calls, 1);
    CHECK_INT(ring_cancel(r, &cop), -ENOENT);

    /* deferred work runs once per turn however often it is queued; operations of one turn leave in one
     * submit */
    struct deferred d = {.d = {.cb = on_defer}, .ring = r};
    ring_defer(r, &d.d);
    ring_defer(r, &d.d);
    struct ring_stats before, after;
    ring_get_stats(r, &before);
    struct result many[10] = {{0}};
    struct ring_op ops[10];
    for (int i = 0; i < 10; i++) {
        ops[i] = (struct ring_op){.cb = on_done, .data = &many[i]};
        ring_timeout(r, &ops[i], 1);
    }
    ring_flush(r);
    ring_get_stats(r, &after);
    CHECK_INT(d.runs, 1);
    CHECK_INT(after.submits - before.submits, 1);
    CHECK_INT(after.sqes - before.sqes, 10);
    run_until(r, &many[9].done, 2000);
    int all = 1;
    for (int i = 0; i < 10; i++)
        all &= many[i].calls == 1;
    CHECK(all);

    close(sv[0]);
    close(sv[1]);
    test_poke(r);
    ring_destroy(r);
    h2o_evloop_destroy(loop);
    return harness_finish("ring");
}
