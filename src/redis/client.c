/*
 * redis client: connection state machine, the output pipeline (one send per loop turn), FIFO reply
 * matching, timeouts and reconnection. See include/citas/redis.h for the contract.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char redis_err_timeout[] = "redis: timeout";
const char redis_err_disconnected[] = "redis: connection lost";
const char redis_err_closed[] = "redis: client destroyed";
const char redis_err_protocol[] = "redis: protocol error";

#define RECV_SIZE (64 * 1024)
/* hiredis 0.14 compacts its buffer (memmove of the rest) after every reply once 1 KiB was consumed:
 * feeding it 1 KiB at a time keeps parsing linear however much one recv brings */
#define FEED_CHUNK     1024
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define DEAD_GRACE_MS  5000

static void start_connect(struct redis_client *c);
static void conn_fail(struct redis_client *c, const char *err);
static void arm_timer(struct redis_client *c);

uint64_t redis_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- FIFO of pending commands ---- */

static struct pending *q_at(struct redis_client *c, size_t i)
{
    return &c->q[(c->qhead + i) & (c->qcap - 1)];
}

static int q_push(struct redis_client *c, const struct pending *p)
{
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap * 2;
        struct pending *nq = malloc(ncap * sizeof(*nq));
        if (nq == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < c->qlen; i++)
            nq[i] = *q_at(c, i);
        free(c->q);
        c->q = nq;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) & (c->qcap - 1)] = *p;
    c->qlen++;
    c->stats.pending = c->qlen;
    return 0;
}

static struct pending q_pop(struct redis_client *c)
{
    struct pending p = c->q[c->qhead];
    c->qhead = (c->qhead + 1) & (c->qcap - 1);
    c->qlen--;
    if (c->qtimed > 0)
        c->qtimed--;
    c->stats.pending = c->qlen;
    return p;
}

/* Fails every pending command with err; callbacks may issue commands (refused: state is not open). */
static void fail_all(struct redis_client *c, const char *err)
{
    while (c->qlen > 0) {
        int timed = c->qtimed > 0;
        struct pending p = q_pop(c);
        free(p.evalsha);
        if (timed || p.cb == NULL)
            continue; /* already answered, or nobody listens */
        c->stats.errors++;
        p.cb(c, NULL, err, p.ctx);
    }
    c->qtimed = 0;
}

/* ---- output pipeline ---- */

static int buf_append(struct outbuf *b, const char *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t ncap = b->cap ? b->cap : 64 * 1024;
        while (ncap < b->len + len)
            ncap *= 2;
        char *nd = realloc(b->data, ncap);
        if (nd == NULL)
            return -ENOMEM;
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static void start_send(struct redis_client *c)
{
    if (c->state != REDIS_ST_CONNECTED || c->send_busy)
        return;
    if (c->wire.off == c->wire.len) {
        if (c->out.len == 0)
            return;
        /* the turn's commands become the wire buffer: swap, no copy */
        struct outbuf t = c->wire;
        c->wire = c->out;
        c->out = t;
        c->out.len = c->out.off = 0;
        c->wire.off = 0;
    }
    int rc = ring_send(c->ring, &c->send_op, c->fd, c->wire.data + c->wire.off, c->wire.len - c->wire.off);
    if (rc < 0) {
        conn_fail(c, redis_err_disconnected);
        return;
    }
    c->send_busy = 1;
    c->stats.sends++;
}

static void schedule_flush(struct redis_client *c)
{
    c->flush_queued = 1;
    ring_defer(c->ring, &c->flush);
}

int redis_enqueue(struct redis_client *c, const char *cmd, size_t len, redis_reply_cb cb, void *ctx,
                  char *evalsha, const struct redis_script *script, int force)
{
    if (c->state != REDIS_ST_CONNECTED && c->state != REDIS_ST_CONNECTING)
        return -ENOTCONN;
    if (!force && c->qlen >= c->max_pending)
        return -ENOBUFS;
    struct pending p = {.cb = cb,
                        .ctx = ctx,
                        .deadline = redis_now_ms() + c->timeout_ms,
                        .evalsha = evalsha,
                        .evalsha_len = evalsha ? len : 0,
                        .script = script};
    size_t oldlen = c->out.len;
    if (buf_append(&c->out, cmd, len) < 0)
        return -ENOMEM;
    if (q_push(c, &p) < 0) {
        c->out.len = oldlen;
        return -ENOMEM;
    }
    c->stats.commands++;
    if (!c->flush_queued)
        schedule_flush(c);
    if (!c->timer_busy || p.deadline < c->timer_at)
        arm_timer(c);
    return 0;
}

int redis_command(struct redis_client *c, redis_reply_cb cb, void *ctx, int argc, const char **argv,
                  const size_t *argvlen)
{
    if (c == NULL || cb == NULL || argc < 1 || argv == NULL)
        return -EINVAL;
    if (c->state != REDIS_ST_CONNECTED && c->state != REDIS_ST_CONNECTING)
        return -ENOTCONN;
    char *cmd = NULL;
    long long len = redis_format_argv(&cmd, argc, argv, argvlen);
    if (len < 0)
        return -ENOMEM;
    int rc = redis_enqueue(c, cmd, (size_t)len, cb, ctx, NULL, NULL, 0);
    free(cmd);
    return rc;
}

size_t redis_detach(struct redis_client *c, void *ctx)
{
    size_t n = 0;
    if (c == NULL)
        return 0;
    for (size_t i = 0; i < c->qlen; i++) {
        struct pending *p = q_at(c, i);
        if (p->cb != NULL && p->ctx == ctx) {
            p->cb = NULL;
            n++;
        }
    }
    return n;
}

/* ---- teardown ---- */

static int ops_busy(const struct redis_client *c)
{
    return c->connect_busy || c->send_busy || c->recv_busy;
}

static void free_client(struct redis_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    redisReaderFree(c->reader);
    free(c->q);
    free(c->out.data);
    free(c->wire.data);
    free(c->rbuf);
    free(c->host);
    free(c);
}

/* Called on the way out of every ring callback: frees a destroyed client once nothing refers to it. */
static void leave(struct redis_client *c)
{
    c->depth--;
    if (c->state == REDIS_ST_DESTROYED && c->depth == 0 && !ops_busy(c) && !c->timer_busy && !c->flush_queued)
        free_client(c);
}

/* After a failure, once the ring no longer uses the socket: close it and wait to reconnect. */
static void maybe_closed(struct redis_client *c)
{
    if (c->state != REDIS_ST_CLOSING || ops_busy(c))
        return;
    close(c->fd);
    c->fd = -1;
    c->state = REDIS_ST_WAITING;
    c->retry_at = redis_now_ms() + c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    arm_timer(c);
}

static void stop_io(struct redis_client *c)
{
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR); /* completes a pending recv */
    if (c->connect_busy)
        ring_cancel(c->ring, &c->connect_op);
    if (c->send_busy)
        ring_cancel(c->ring, &c->send_op);
    if (c->recv_busy)
        ring_cancel(c->ring, &c->recv_op);
    c->out.len = c->out.off = 0;
    c->wire.len = c->wire.off = 0;
}

static void conn_fail(struct redis_client *c, const char *err)
{
    if (c->state != REDIS_ST_CONNECTED && c->state != REDIS_ST_CONNECTING)
        return;
    c->state = REDIS_ST_CLOSING;
    stop_io(c);
    fail_all(c, err);
    maybe_closed(c);
}

void redis_client_destroy(struct redis_client *c)
{
    if (c == NULL || c->state == REDIS_ST_DESTROYED)
        return;
    c->state = REDIS_ST_DESTROYED;
    stop_io(c);
    if (c->timer_busy && !c->timer_cancelling) {
        c->timer_cancelling = 1;
        ring_cancel(c->ring, &c->timer_op);
    }
    c->depth++;
    fail_all(c, redis_err_closed);
    leave(c);
}

/* ---- timers: one ring timeout for the earliest deadline ---- */

static uint64_t next_event(struct redis_client *c)
{
    uint64_t t = 0;
#define EARLIER(x)                                                                                           \
    do {                                                                                                     \
        if (t == 0 || (x) < t)                                                                               \
            t = (x);                                                                                         \
    } while (0)
    if (c->state == REDIS_ST_CONNECTING || c->state == REDIS_ST_CONNECTED) {
        if (c->qtimed < c->qlen)
            EARLIER(q_at(c, c->qtimed)->deadline);
        if (c->qlen > 0 && c->state == REDIS_ST_CONNECTED)
            EARLIER(q_at(c, 0)->deadline + DEAD_GRACE_MS);
    }
    if (c->state == REDIS_ST_CONNECTING)
        EARLIER(c->connect_deadline);
    if (c->state == REDIS_ST_WAITING)
        EARLIER(c->retry_at);
#undef EARLIER
    return t;
}

static void arm_timer(struct redis_client *c)
{
    uint64_t t = next_event(c);
    if (t == 0)
        return;
    if (c->timer_busy) {
        /* an earlier event than the armed one: cancel, and the callback re-arms */
        if (t < c->timer_at && !c->timer_cancelling) {
            c->timer_cancelling = 1;
            ring_cancel(c->ring, &c->timer_op);
        }
        return;
    }
    uint64_t now = redis_now_ms();
    uint64_t ms = t > now ? t - now : 0;
    /* CLOCK_MONOTONIC_COARSE ticks in a few ms: wait at least one tick past the deadline */
    if (ring_timeout(c->ring, &c->timer_op, ms + 5) == 0) {
        c->timer_busy = 1;
        c->timer_at = t;
    }
}

static void on_timer(struct ring_op *op, int res)
{
    struct redis_client *c = op->data;
    (void)res; /* -ETIME or -ECANCELED: either way, look at the clock */
    c->timer_busy = 0;
    c->timer_cancelling = 0;
    c->depth++;
    uint64_t now = redis_now_ms();
    while (c->qtimed < c->qlen && q_at(c, c->qtimed)->deadline <= now &&
           (c->state == REDIS_ST_CONNECTED || c->state == REDIS_ST_CONNECTING)) {
        /* the entry stays in the FIFO to absorb its late reply */
        struct pending *p = q_at(c, c->qtimed);
        redis_reply_cb cb = p->cb;
        void *ctx = p->ctx;
        p->cb = NULL;
        c->qtimed++;
        c->stats.timeouts++;
        c->stats.errors++;
        if (cb != NULL)
            cb(c, NULL, redis_err_timeout, ctx);
    }
    if (c->state == REDIS_ST_CONNECTED && c->qlen > 0 && q_at(c, 0)->deadline + DEAD_GRACE_MS <= now)
        conn_fail(c, redis_err_timeout);
    if (c->state == REDIS_ST_CONNECTING && c->connect_deadline <= now)
        conn_fail(c, redis_err_disconnected);
    if (c->state == REDIS_ST_WAITING && c->retry_at <= now) {
        c->stats.reconnects++;
        start_connect(c);
    }
    if (c->state != REDIS_ST_DESTROYED)
        arm_timer(c);
    leave(c);
}

/* ---- socket I/O ---- */

static void post_recv(struct redis_client *c)
{
    if (ring_recv(c->ring, &c->recv_op, c->fd, c->rbuf, RECV_SIZE) < 0) {
        conn_fail(c, redis_err_disconnected);
        return;
    }
    c->recv_busy = 1;
}

/* Hands one parsed reply to the oldest pending command. Returns 0, or -1 when the client stopped. */
static int deliver(struct redis_client *c, redisReply *reply)
{
    c->stats.replies++;
    if (c->qlen == 0) {
        freeReplyObject(reply);
        conn_fail(c, redis_err_protocol); /* a reply nobody asked for: the stream is out of step */
        return -1;
    }
    int timed = c->qtimed > 0;
    struct pending p = q_pop(c);
    if (!timed && p.cb != NULL) {
        if (reply->type == REDIS_REPLY_ERROR) {
            if (p.evalsha != NULL && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
                redis_script_retry(c, &p) == 0) {
                c->stats.script_retries++;
            } else {
                c->stats.errors++;
                p.cb(c, NULL, reply->str, p.ctx);
            }
        } else {
            p.cb(c, reply, NULL, p.ctx);
        }
    }
    free(p.evalsha);
    freeReplyObject(reply);
    return c->state == REDIS_ST_CONNECTED ? 0 : -1;
}

static void on_recv(struct ring_op *op, int res)
{
    struct redis_client *c = op->data;
    c->recv_busy = 0;
    c->depth++;
    if (c->state != REDIS_ST_CONNECTED) {
        maybe_closed(c);
    } else if (res == -EINTR || res == -EAGAIN) {
        post_recv(c);
    } else if (res <= 0) {
        conn_fail(c, redis_err_disconnected);
    } else {
        int stopped = 0;
        for (size_t off = 0; off < (size_t)res && !stopped; off += FEED_CHUNK) {
            size_t n = (size_t)res - off < FEED_CHUNK ? (size_t)res - off : FEED_CHUNK;
            if (redisReaderFeed(c->reader, c->rbuf + off, n) != REDIS_OK) {
                conn_fail(c, redis_err_protocol);
                break;
            }
            for (;;) {
                void *reply = NULL;
                if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
                    conn_fail(c, redis_err_protocol);
                    stopped = 1;
                    break;
                }
                if (reply == NULL)
                    break;
                if (deliver(c, reply) < 0) {
                    stopped = 1;
                    break;
                }
            }
        }
        if (c->state == REDIS_ST_CONNECTED)
            post_recv(c);
    }
    leave(c);
}

static void on_send(struct ring_op *op, int res)
{
    struct redis_client *c = op->data;
    c->send_busy = 0;
    c->depth++;
    if (c->state != REDIS_ST_CONNECTED) {
        maybe_closed(c);
    } else if (res < 0 && res != -EINTR && res != -EAGAIN) {
        conn_fail(c, redis_err_disconnected);
    } else {
        if (res > 0)
            c->wire.off += (size_t)res;
        if (c->wire.off == c->wire.len)
            c->wire.len = c->wire.off = 0;
        /* send the rest, and whatever accumulated meanwhile, at the end of this turn */
        if (c->wire.len > 0 || c->out.len > 0)
            schedule_flush(c);
    }
    leave(c);
}

static void on_flush(struct ring_defer *d)
{
    struct redis_client *c = (struct redis_client *)((char *)d - offsetof(struct redis_client, flush));
    c->flush_queued = 0;
    c->depth++;
    start_send(c);
    leave(c);
}

static void on_connect(struct ring_op *op, int res)
{
    struct redis_client *c = op->data;
    c->connect_busy = 0;
    c->depth++;
    if (c->state != REDIS_ST_CONNECTING) {
        maybe_closed(c);
    } else if (res < 0) {
        conn_fail(c, redis_err_disconnected);
    } else {
        /* nonblocking was for connect; from here io_uring waits for readiness itself, and a blocking
         * socket guarantees that no recv or send completes with -EAGAIN */
        int fl = fcntl(c->fd, F_GETFL);
        if (fl < 0 || fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
            conn_fail(c, redis_err_disconnected);
            leave(c);
            return;
        }
        c->state = REDIS_ST_CONNECTED;
        c->backoff_ms = BACKOFF_MIN_MS;
        c->stats.connects++;
        post_recv(c);
        if (c->state == REDIS_ST_CONNECTED && c->out.len > 0)
            schedule_flush(c);
        arm_timer(c);
    }
    leave(c);
}

static void start_connect(struct redis_client *c)
{
    redisReader *nr = redisReaderCreate();
    int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (nr == NULL || fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        redisReaderFree(nr);
        if (fd >= 0)
            close(fd);
        c->state = REDIS_ST_WAITING; /* try again later */
        c->retry_at = redis_now_ms() + c->backoff_ms;
        return;
    }
    /* a fresh parser: bytes of the previous connection must not leak into this one */
    redisReaderFree(c->reader);
    c->reader = nr;
    nr->maxbuf = 0;
    c->fd = fd;
    c->state = REDIS_ST_CONNECTING;
    c->connect_deadline = redis_now_ms() + c->timeout_ms;
    if (ring_connect(c->ring, &c->connect_op, fd, (struct sockaddr *)&c->addr, c->addrlen) < 0) {
        conn_fail(c, redis_err_disconnected);
        return;
    }
    c->connect_busy = 1;
}

/* ---- creation and queries ---- */

int redis_client_create(struct ring *r, const struct redis_config *cfg, struct redis_client **out)
{
    if (r == NULL || cfg == NULL || cfg->host == NULL || cfg->port < 0 || cfg->port > 65535 || out == NULL)
        return -EINVAL;
    struct redis_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->ring = r;
    c->fd = -1;
    c->port = cfg->port ? cfg->port : 6379;
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 2000;
    c->max_pending = cfg->max_pending ? cfg->max_pending : 262144;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->qcap = 1024;
    c->q = malloc(c->qcap * sizeof(*c->q));
    c->rbuf = malloc(RECV_SIZE);
    c->host = strdup(cfg->host);
    if (c->q == NULL || c->rbuf == NULL || c->host == NULL) {
        free_client(c);
        return -ENOMEM;
    }

    char portbuf[8];
    snprintf(portbuf, sizeof(portbuf), "%d", c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(c->host, portbuf, &hints, &res) != 0 || res == NULL) {
        free_client(c);
        return -EHOSTUNREACH;
    }
    memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
    c->addrlen = res->ai_addrlen;
    freeaddrinfo(res);

    c->connect_op = (struct ring_op){.cb = on_connect, .data = c};
    c->send_op = (struct ring_op){.cb = on_send, .data = c};
    c->recv_op = (struct ring_op){.cb = on_recv, .data = c};
    c->timer_op = (struct ring_op){.cb = on_timer, .data = c};
    c->flush.cb = on_flush;
    start_connect(c);
    arm_timer(c);
    *out = c;
    return 0;
}

int redis_is_connected(const struct redis_client *c)
{
    return c != NULL && c->state == REDIS_ST_CONNECTED;
}

void redis_get_stats(const struct redis_client *c, struct redis_stats *out)
{
    *out = c->stats;
}
