/*
 * The io_uring reactor of a worker and the bridge to its h2o loop: an eventfd registered with the ring
 * wakes the h2o loop when completions arrive; its read callback drains the completion queue.
 */
#include "citas/ring.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

const uint64_t ring_hist_bounds_us[RING_HIST_BUCKETS - 1] = {500, 1000, 2000, 5000, 10000, 20000, 50000};

struct ring {
    struct io_uring uring;
    h2o_evloop_t *loop;
    h2o_socket_t *efd_sock;
    struct ring_defer *deferred;
    unsigned pending; /* sqes prepared since the last submit */
    int busy;         /* inside drain() or ring_flush(): ring_poke() does nothing */
    uint64_t poke_ns; /* ring_poke() interval, 0: off */
    unsigned poke_drain; /* completions a poke delivers at most */
    uint64_t last_flush_ns;
    uint64_t queued_ns; /* when the first work since the last flush was queued */
    uint64_t turn_ns;   /* the loop turn's first completion or poke, 0: none yet */
    struct ring_stats stats;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Delivers up to `max` completions (0: until the queue is seen empty). */
static void drain(struct ring *r, unsigned max)
{
    struct io_uring_cqe *cqe;
    unsigned n = 0;
    if (r->turn_ns == 0)
        r->turn_ns = now_ns();
    int was_busy = r->busy;
    r->busy = 1;
    /* a callback may queue more work, and the kernel may post more completions meanwhile: loop until
     * the queue is seen empty */
    while ((max == 0 || n++ < max) && io_uring_peek_cqe(&r->uring, &cqe) == 0) {
        struct ring_op *op = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&r->uring, cqe);
        if (op == NULL)
            continue; /* internal: cancel requests */
        op->in_flight = 0;
        r->stats.completions++;
        op->cb(op, res);
    }
    r->busy = was_busy;
}

static void on_eventfd(h2o_socket_t *sock, const char *err)
{
    struct ring *r = sock->data;
    /* the eventfd counter itself carries no information: throw the bytes away */
    h2o_buffer_consume(&sock->input, sock->input->size);
    (void)err; /* an eventfd does not fail or close under us */
    drain(r, 0);
}

int ring_create(h2o_evloop_t *loop, unsigned entries, struct ring **out)
{
    struct ring *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    int rc = io_uring_queue_init_params(entries, &r->uring, &p);
    if (rc < 0) {
        free(r);
        return rc;
    }
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
        rc = -errno;
        io_uring_queue_exit(&r->uring);
        free(r);
        return rc;
    }
    rc = io_uring_register_eventfd(&r->uring, efd);
    if (rc < 0) {
        close(efd);
        io_uring_queue_exit(&r->uring);
        free(r);
        return rc;
    }
    r->loop = loop;
    r->last_flush_ns = now_ns();
    r->efd_sock = h2o_evloop_socket_create(loop, efd, 0);
    r->efd_sock->data = r;
    h2o_socket_read_start(r->efd_sock, on_eventfd);
    *out = r;
    return 0;
}

void ring_destroy(struct ring *r)
{
    if (r == NULL)
        return;
    h2o_socket_read_stop(r->efd_sock);
    h2o_socket_close(r->efd_sock); /* closes the eventfd */
    io_uring_queue_exit(&r->uring);
    free(r);
}

h2o_evloop_t *ring_loop(struct ring *r)
{
    return r->loop;
}

uint64_t ring_now(struct ring *r)
{
    return h2o_now(r->loop);
}

/* Notes the time the first work since the last flush is queued, for ring_stats.queued. */
static void note_queued(struct ring *r)
{
    if (r->pending == 0 && r->deferred == NULL)
        r->queued_ns = now_ns();
}

static struct io_uring_sqe *get_sqe(struct ring *r)
{
    note_queued(r);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
    if (sqe == NULL) {
        /* submission queue full: send what is there and try again */
        int rc = io_uring_submit(&r->uring);
        if (rc > 0) {
            r->stats.submits++;
            r->stats.sqes += (uint64_t)rc;
        }
        r->pending = 0;
        sqe = io_uring_get_sqe(&r->uring);
    }
    if (sqe != NULL)
        r->pending++;
    return sqe;
}

static int arm(struct ring_op *op, struct io_uring_sqe *sqe)
{
    io_uring_sqe_set_data(sqe, op);
    op->in_flight = 1;
    return 0;
}

int ring_poll(struct ring *r, struct ring_op *op, int fd, unsigned events)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_poll_add(sqe, fd, events);
    return arm(op, sqe);
}

int ring_send(struct ring *r, struct ring_op *op, int fd, const void *buf, size_t len)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    return arm(op, sqe);
}

int ring_recv(struct ring *r, struct ring_op *op, int fd, void *buf, size_t len)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    return arm(op, sqe);
}

int ring_connect(struct ring *r, struct ring_op *op, int fd, const struct sockaddr *addr, socklen_t len)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_connect(sqe, fd, addr, len);
    return arm(op, sqe);
}

int ring_timeout(struct ring *r, struct ring_op *op, uint64_t ms)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    if (sqe == NULL)
        return -EBUSY;
    op->ts.tv_sec = (long long)(ms / 1000);
    op->ts.tv_nsec = (long long)(ms % 1000) * 1000000;
    io_uring_prep_timeout(sqe, &op->ts, 0, 0);
    return arm(op, sqe);
}

int ring_cancel(struct ring *r, struct ring_op *target)
{
    if (!target->in_flight)
        return -ENOENT;
    struct io_uring_sqe *sqe = get_sqe(r);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_cancel(sqe, target, 0);
    io_uring_sqe_set_data(sqe, NULL);
    return 0;
}

void ring_defer(struct ring *r, struct ring_defer *d)
{
    if (d->queued)
        return;
    note_queued(r);
    d->queued = 1;
    d->next = r->deferred;
    r->deferred = d;
}

static void count(struct ring_hist *h, uint64_t ns)
{
    uint64_t us = ns / 1000;
    unsigned b = 0;
    while (b < RING_HIST_BUCKETS - 1 && us > ring_hist_bounds_us[b])
        b++;
    h->n[b]++;
    h->sum_us += us;
}

int ring_flush(struct ring *r)
{
    uint64_t t = now_ns();
    /* before deferred work queues more */
    if (r->deferred != NULL || r->pending > 0)
        count(&r->stats.queued, t - r->queued_ns);
    r->last_flush_ns = t;
    int was_busy = r->busy;
    r->busy = 1;
    while (r->deferred != NULL) {
        struct ring_defer *d = r->deferred;
        r->deferred = d->next;
        d->queued = 0;
        d->next = NULL;
        d->cb(d);
    }
    r->busy = was_busy;
    if (r->pending == 0)
        return 0;
    int rc = io_uring_submit(&r->uring);
    if (rc < 0)
        return rc;
    r->stats.submits++;
    r->stats.sqes += (uint64_t)rc;
    r->pending = 0;
    return 0;
}

int ring_poke(struct ring *r)
{
    if (r->turn_ns == 0)
        r->turn_ns = now_ns();
    if (r->poke_ns == 0 || r->busy)
        return 0;
    if (now_ns() - r->last_flush_ns < r->poke_ns)
        return 0;
    int rc = ring_flush(r);
    if (rc < 0)
        return rc;
    r->stats.pokes++;
    if (r->poke_drain > 0 && io_uring_cq_ready(&r->uring) > 0)
        drain(r, r->poke_drain);
    return 1;
}

void ring_set_poke(struct ring *r, uint64_t interval_us, unsigned max_completions)
{
    r->poke_ns = interval_us * 1000;
    r->poke_drain = max_completions;
}

int ring_run_once(struct ring *r, int32_t max_wait)
{
    int rc = ring_flush(r);
    if (rc < 0)
        return rc;
    /* completions may already be waiting if the eventfd fired before the loop looked */
    if (io_uring_cq_ready(&r->uring) > 0)
        drain(r, 0), max_wait = 0;
    if (r->deferred != NULL || r->pending > 0)
        max_wait = 0;
    /* a drain above has no wait after it (max_wait 0): it counts in this turn */
    rc = h2o_evloop_run(r->loop, max_wait);
    if (r->turn_ns != 0) {
        count(&r->stats.turns, now_ns() - r->turn_ns);
        r->turn_ns = 0;
    }
    return rc;
}

void ring_get_stats(const struct ring *r, struct ring_stats *out)
{
    *out = r->stats;
}
