/*
 * ring: the io_uring reactor of one worker and its bridge to the worker's h2o event loop.
 *
 * One ring per worker thread, used only from that thread. The h2o loop owns the thread: the ring
 * registers an eventfd with io_uring and watches it with an h2o socket, so completions are drained from
 * inside h2o_evloop_run(). Submissions made during a loop turn are queued and leave together in one
 * io_uring_submit() when ring_flush() runs; ring_run_once() does that for you.
 *
 * Operations are described by a `struct ring_op` that the caller owns and embeds in its own state. The op
 * must stay valid until its callback has run; every submitted op's callback runs exactly once, with the
 * result of the operation (>= 0) or a negative errno (-ECANCELED after ring_cancel(), -ETIME for an
 * expired ring_timeout()). Buffers and addresses passed to an operation must stay valid until its callback.
 */
#ifndef CITAS_RING_H
#define CITAS_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/time_types.h>
#include <h2o.h>

struct ring;
struct ring_op;

/* Completion of an operation: res is the operation's result or a negative errno. */
typedef void (*ring_op_cb)(struct ring_op *op, int res);

struct ring_op {
    ring_op_cb cb; /* set by the caller before submitting */
    void *data;    /* free for the caller */
    /* private */
    struct __kernel_timespec ts;
    int in_flight;
};

/* Work to run once at the end of the current loop turn, just before submissions are flushed. */
struct ring_defer;
typedef void (*ring_defer_cb)(struct ring_defer *d);
struct ring_defer {
    ring_defer_cb cb;
    /* private */
    struct ring_defer *next;
    int queued;
};

/* A histogram of durations: counts by bucket (upper bounds in ring_hist_bounds_us; the last bucket has no
 * bound) and their sum. */
#define RING_HIST_BUCKETS 8
extern const uint64_t ring_hist_bounds_us[RING_HIST_BUCKETS - 1];
struct ring_hist {
    uint64_t n[RING_HIST_BUCKETS];
    uint64_t sum_us;
};

/* Counters of one ring, for tests and /metrics. */
struct ring_stats {
    uint64_t submits;     /* io_uring_submit() calls that submitted something */
    uint64_t sqes;        /* operations submitted */
    uint64_t completions; /* completions delivered */
    uint64_t pokes;       /* ring_poke() calls that flushed */
    /* at each flush with work to do (deferred work or operations), how long the oldest of it had been
     * queued: the longest a command waited to leave */
    struct ring_hist queued;
    /* busy loop turns: from the turn's first completion or ring_poke() call (the start of a request) to its
     * end. A reply that arrives during a turn waits for its end to be seen. */
    struct ring_hist turns;
};

/*
 * Creates a ring of `entries` submission slots bridged to `loop`. Returns 0 and the ring in *out, or a
 * negative errno. The caller owns the ring and frees it with ring_destroy() from the same thread.
 */
int ring_create(h2o_evloop_t *loop, unsigned entries, struct ring **out);

/*
 * Frees the ring. Operations still in flight are abandoned: their callbacks never run, so destroy a ring
 * only after every client using it has been closed. Accepts NULL.
 */
void ring_destroy(struct ring *r);

h2o_evloop_t *ring_loop(struct ring *r);
/* The loop's clock in milliseconds (h2o_now()). */
uint64_t ring_now(struct ring *r);

/* One-shot poll for `events` (POLLIN, POLLOUT...): res is the returned event mask. */
int ring_poll(struct ring *r, struct ring_op *op, int fd, unsigned events);
/* send(2)/recv(2) on a socket: res is the byte count, 0 for recv at end of stream. */
int ring_send(struct ring *r, struct ring_op *op, int fd, const void *buf, size_t len);
int ring_recv(struct ring *r, struct ring_op *op, int fd, void *buf, size_t len);
/* connect(2): `addr` must stay valid until the callback. res is 0 or a negative errno. */
int ring_connect(struct ring *r, struct ring_op *op, int fd, const struct sockaddr *addr, socklen_t len);
/* A timer: res is -ETIME when it fires, -ECANCELED when cancelled first. */
int ring_timeout(struct ring *r, struct ring_op *op, uint64_t ms);

/*
 * Asks the kernel to cancel `target`. Its callback still runs exactly once: with -ECANCELED, or with its
 * real result if it completed first. Returns 0, -ENOENT if the op is not in flight, or a negative errno.
 */
int ring_cancel(struct ring *r, struct ring_op *target);

/* Queues `d` to run at the end of this loop turn (once, however many times it is queued). */
void ring_defer(struct ring *r, struct ring_defer *d);

/* Runs deferred work and submits every queued operation in one io_uring_submit(). */
int ring_flush(struct ring *r);

/*
 * Progress in the middle of a loop turn. A busy turn of the h2o loop handles up to 256 events (a few
 * hundred requests and their backend replies); without this, what they queue leaves only when the turn
 * ends. When at least the poke interval has passed since the last flush, ring_poke() runs ring_flush()
 * (deferred work, then one submit) and delivers up to its budget of the completions that are ready.
 * Call it only where no caller state is half-built (the start of a request): deferred work and
 * completion callbacks run inside it. It does nothing when called from a completion callback or
 * deferred work. Returns 1 if it flushed, 0 if not, or a negative errno from the submit.
 */
int ring_poke(struct ring *r);

/* Sets the poke interval in microseconds (0 turns ring_poke() off) and how many completions a poke
 * delivers at most (0: none, it only submits). New rings have 0, 0. */
void ring_set_poke(struct ring *r, uint64_t interval_us, unsigned max_completions);

/* One turn of the worker: ring_flush(), then h2o_evloop_run() for at most max_wait ms. */
int ring_run_once(struct ring *r, int32_t max_wait);

void ring_get_stats(const struct ring *r, struct ring_stats *out);

#endif
