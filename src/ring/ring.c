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
#include <unistd.h>

struct ring {
    struct io_uring uring;
    h2o_evloop_t *loop;
    h2o_socket_t *efd_sock;
    struct ring_defer *deferred;
    unsigned pending; /* sqes prepared since the last submit */
    struct ring_stats stats;
};

static void drain(struct ring *r)
{
    struct io_uring_cqe *cqe;
    /* a callback may queue more work, and the kernel may post more completions meanwhile: loop until
     * the queue is seen empty */
    while (io_uring_peek_cqe(&r->uring, &cqe) == 0) {
        struct ring_op *op = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&r->uring, cqe);
        if (op == NULL)
            continue; /* internal: cancel requests */
        op->in_flight = 0;
        r->stats.completions++;
        op->cb(op, res);
    }
}

static void on_eventfd(h2o_socket_t *sock, const char *err)
{
    struct ring *r = sock->data;
    /* the eventfd counter itself carries no information: throw the bytes away */
    h2o_buffer_consume(&sock->input, sock->input->size);
    (void)err; /* an eventfd does not fail or close under us */
    drain(r);
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

static struct io_uring_sqe *get_sqe(struct ring *r)
{
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
    d->queued = 1;
    d->next = r->deferred;
    r->deferred = d;
}

int ring_flush(struct ring *r)
{
    while (r->deferred != NULL) {
        struct ring_defer *d = r->deferred;
        r->deferred = d->next;
        d->queued = 0;
        d->next = NULL;
        d->cb(d);
    }
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

int ring_run_once(struct ring *r, int32_t max_wait)
{
    int rc = ring_flush(r);
    if (rc < 0)
        return rc;
    /* completions may already be waiting if the eventfd fired before the loop looked */
    if (io_uring_cq_ready(&r->uring) > 0)
        drain(r), max_wait = 0;
    if (r->deferred != NULL || r->pending > 0)
        max_wait = 0;
    return h2o_evloop_run(r->loop, max_wait);
}

void ring_get_stats(const struct ring *r, struct ring_stats *out)
{
    *out = r->stats;
}
