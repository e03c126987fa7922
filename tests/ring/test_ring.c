/* ring: timers, socket I/O, cancellation and end-of-turn batching on a real io_uring and h2o loop. */
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
    ring_destroy(r);
    h2o_evloop_destroy(loop);
    return harness_finish("ring");
}
