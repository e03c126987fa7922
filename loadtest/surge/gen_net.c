/*
 * surge-gen's connections: keep-alive HTTP/1.1 over TCP to the server, one request at a time per
 * connection. By default one group: the kernel's 127.0.0.1, all --max-conns connections, and one FIFO of
 * requests in the order their users wanted to send them, humans and bots alike, so that neither class
 * waits behind the other inside the generator. With --src-ips N (everybody in 127.1.x.y) or --bot-src-ips
 * N > 1 (bots apart in 127.2.x.y), one group and FIFO per source address, each with a share of
 * --max-conns proportional to its users. Every request records how long it waited inside the generator
 * (wanted .. written: queue_us) apart from the server's time (written .. answered: latency_us). A failed
 * exchange (refused, reset, closed, timeout) is answered to its user with status 0; a connection is closed
 * after a failure, on "Connection: close" and after --idle-close-ms idle (below citasd's io_timeout_ms, so
 * the server never closes a connection under a request being sent). Responses: status line, headers,
 * Content-Length or chunked bodies.
 */
#include "gen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define IN_MAX (16u << 20)

enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
    int fd;
    uint8_t state, want_out, chunked, close_after, chunk_done, gzipped;
    uint16_t group;
    struct gen_user *u;
    char out[2048];
    size_t outlen, outoff;
    char *in;
    size_t inlen, incap, scanned;
    size_t hdr_end; /* 0 until the header block is parsed: offset of the body */
    int64_t clen;   /* -1: none */
    size_t chunk_pos, dec_len;
    int status, retry_after;
    char cookie[96];
    int64_t sent_us; /* when the request was wholly written (0: not yet) */
    int64_t deadline_ms, idle_since_ms;
    struct conn *next; /* idle list or free list */
};

struct group {
    struct sockaddr_in src;
    int bind_src;
    int cap, open, connecting;
    uint32_t users;
    struct conn *idle;
    struct gen_user *qhead, *qtail;
    uint32_t qlen;
};

uint64_t gen_net_connects, gen_net_connect_fails, gen_net_max_open, gen_net_answers_ok, gen_net_queued_100ms;
uint64_t gen_net_gzipped;
int64_t gen_net_max_queue_ms;

static int ep = -1;
static struct conn *conns, *free_conns;
static int nconns, open_total;
static struct group *groups;
static int ngroups, human_groups, bot_groups;
static struct sockaddr_in dst;
static int64_t last_sweep;

uint16_t gen_net_group_of(uint32_t user, int bot)
{
    if (bot && gen_o.bot_src_ips > 1)
        return (uint16_t)(gen_o.src_ips + (int)(user % (uint32_t)gen_o.bot_src_ips));
    return (uint16_t)(user % (uint32_t)gen_o.src_ips);
}

int gen_net_init(void)
{
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("surge-gen: epoll_create1");
        return -1;
    }
    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)gen_o.port);
    if (inet_pton(AF_INET, gen_o.host, &dst.sin_addr) != 1)
        return -1;
    human_groups = gen_o.src_ips;
    bot_groups = gen_o.bot_src_ips > 1 ? gen_o.bot_src_ips : 0;
    ngroups = human_groups + bot_groups;
    groups = calloc((size_t)ngroups, sizeof(*groups));
    nconns = gen_o.max_conns;
    conns = calloc((size_t)nconns, sizeof(*conns));
    if (groups == NULL || conns == NULL)
        return -1;
    for (int i = nconns - 1; i >= 0; i--) {
        conns[i].fd = -1;
        conns[i].next = free_conns;
        free_conns = &conns[i];
    }
    for (uint32_t i = 0; i < gen_o.users; i++)
        groups[gen_users[i].group].users++;
    for (int i = 0; i < ngroups; i++) {
        struct group *g = &groups[i];
        int bot = i >= human_groups, k = bot ? i - human_groups : i, n = bot ? bot_groups : human_groups;
        /* connections in proportion to the group's users: no class gets a fixed half */
        g->cap = (int)((int64_t)gen_o.max_conns * g->users / (gen_o.users ? gen_o.users : 1));
        if (g->cap < 1)
            g->cap = 1;
        g->src.sin_family = AF_INET;
        g->bind_src = n > 1;
        if (g->bind_src) {
            uint32_t a =
                (127u << 24) | ((bot ? 2u : 1u) << 16) | ((uint32_t)(k / 250) << 8) | (uint32_t)(k % 250 + 1);
            g->src.sin_addr.s_addr = htonl(a);
        }
    }
    return 0;
}

static void set_events(struct conn *c, int out)
{
    if (c->want_out == out)
        return;
    c->want_out = (uint8_t)out;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(struct conn *c)
{
    struct group *g = &groups[c->group];
    if (c->state == C_IDLE) { /* unlink from the idle list */
        for (struct conn **p = &g->idle; *p != NULL; p = &(*p)->next)
            if (*p == c) {
                *p = c->next;
                break;
            }
    }
    if (c->state == C_CONNECTING)
        g->connecting--;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->state != C_CLOSED) {
        g->open--;
        open_total--;
    }
    c->state = C_CLOSED;
    c->u = NULL;
    c->inlen = 0;
    c->next = free_conns;
    free_conns = c;
}

static struct gen_user *dequeue(struct group *g)
{
    struct gen_user *u = g->qhead;
    if (u != NULL) {
        g->qhead = u->qnext;
        if (g->qhead == NULL)
            g->qtail = NULL;
        u->qnext = NULL;
        g->qlen--;
    }
    return u;
}

/* The user's request failed before any answer. */
static void fail_user(struct gen_user *u, const char *note, int64_t sent_us)
{
    struct gen_answer a = {.status = 0, .fail = note, .retry_after_s = -1};
    int64_t now = gen_now_us();
    a.latency_us = sent_us > 0 ? now - sent_us : 0;
    a.queue_us = (sent_us > 0 ? sent_us : now) - u->queued_us;
    a.body = "";
    gen_user_answer(u, &a);
}

static void fail_conn(struct conn *c, const char *note)
{
    struct gen_user *u = c->u;
    int64_t sent = c->sent_us;
    conn_close(c);
    if (u != NULL)
        fail_user(u, note, sent);
}

static int flush_out(struct conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(c, 1);
                return 0;
            }
            return -1;
        }
        c->outoff += (size_t)n;
    }
    if (c->sent_us == 0) {
        c->sent_us = gen_now_us();
        int64_t q = c->sent_us - (c->u != NULL ? c->u->queued_us : c->sent_us);
        if (q / 1000 > gen_net_max_queue_ms)
            gen_net_max_queue_ms = q / 1000;
        if (q >= 100000)
            gen_net_queued_100ms++;
    }
    set_events(c, 0);
    return 0;
}

static void send_req(struct conn *c, struct gen_user *u)
{
    int64_t now = gen_now_ms();
    int n = gen_user_request(u, c->out, sizeof(c->out));
    c->u = u;
    c->state = C_BUSY;
    c->sent_us = 0;
    c->deadline_ms = now + gen_o.timeout_ms;
    c->inlen = c->scanned = c->hdr_end = c->dec_len = c->chunk_pos = 0;
    c->clen = -1;
    c->chunked = c->close_after = c->chunk_done = c->gzipped = 0;
    c->status = 0;
    c->retry_after = -1;
    c->cookie[0] = '\0';
    if (n < 0) {
        fail_conn(c, "bad_request");
        return;
    }
    c->outlen = (size_t)n;
    c->outoff = 0;
    if (flush_out(c) != 0)
        fail_conn(c, "reset");
}

static void open_conn(struct group *g)
{
    struct conn *c = free_conns;
    if (c == NULL)
        return;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (g->bind_src) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *)&g->src, sizeof(g->src)) != 0) {
            close(fd);
            return;
        }
    }
    free_conns = c->next;
    c->next = NULL;
    c->fd = fd;
    c->group = (uint16_t)(g - groups);
    c->state = C_CONNECTING;
    c->want_out = 1;
    c->u = NULL;
    c->deadline_ms = gen_now_ms() + gen_o.timeout_ms;
    g->open++;
    g->connecting++;
    open_total++;
    if ((uint64_t)open_total > gen_net_max_open)
        gen_net_max_open = (uint64_t)open_total;
    gen_net_connects++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        conn_close(c);
        return;
    }
    if (connect(fd, (const struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS) {
        const char *note = errno == ECONNREFUSED ? "refused" : "connect_failed";
        conn_close(c);
        gen_net_connect_fails++;
        struct gen_user *u = dequeue(g);
        if (u != NULL)
            fail_user(u, note, 0);
    }
}

/* Sends queued requests on idle connections, opening new ones as allowed. */
static void dispatch(struct group *g)
{
    for (int guard = 0; g->qhead != NULL && guard < 100000; guard++) {
        if (g->idle != NULL) {
            struct conn *c = g->idle;
            g->idle = c->next;
            c->next = NULL;
            c->state = C_BUSY;
            send_req(c, dequeue(g));
            continue;
        }
        if (g->open < g->cap && open_total < nconns && (uint32_t)g->connecting < g->qlen) {
            open_conn(g);
            continue;
        }
        break;
    }
}

void gen_net_submit(struct gen_user *u)
{
    struct group *g = &groups[u->group];
    u->state = S_REQUEST;
    u->queued_us = gen_now_us();
    u->qnext = NULL;
    if (g->qtail != NULL)
        g->qtail->qnext = u;
    else
        g->qhead = u;
    g->qtail = u;
    g->qlen++;
    dispatch(g);
}

static void make_idle(struct conn *c)
{
    struct group *g = &groups[c->group];
    c->state = C_IDLE;
    c->u = NULL;
    c->idle_since_ms = gen_now_ms();
    c->next = g->idle;
    g->idle = c;
}

/* One header line [p, e). */
static void header_line(struct conn *c, const char *p, const char *e)
{
    const char *colon = memchr(p, ':', (size_t)(e - p));
    if (colon == NULL)
        return;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    size_t vl = (size_t)(e - v);
    if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
        c->clen = strtoll(v, NULL, 10);
    } else if (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
        c->chunked = memmem(v, vl, "chunked", 7) != NULL;
    } else if (nl == 16 && strncasecmp(p, "content-encoding", 16) == 0) {
        c->gzipped = vl >= 4 && strncasecmp(v, "gzip", 4) == 0;
    } else if (nl == 10 && strncasecmp(p, "connection", 10) == 0) {
        c->close_after = vl >= 5 && strncasecmp(v, "close", 5) == 0;
    } else if (nl == 11 && strncasecmp(p, "retry-after", 11) == 0) {
        c->retry_after = (int)strtol(v, NULL, 10);
    } else if (nl == 10 && strncasecmp(p, "set-cookie", 10) == 0 && vl > 14 &&
               strncmp(v, "citas_session=", 14) == 0) {
        const char *s = v + 14, *end = memchr(s, ';', (size_t)(e - s));
        size_t n = (size_t)((end != NULL ? end : e) - s);
        if (n < sizeof(c->cookie)) {
            memcpy(c->cookie, s, n);
            c->cookie[n] = '\0';
        }
    }
}

/* 1: a whole response is in; 0: more to read; -1: malformed. */
static int parse(struct conn *c)
{
    if (c->hdr_end == 0) {
        size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
        char *h = memmem(c->in + from, c->inlen - from, "\r\n\r\n", 4);
        c->scanned = c->inlen;
        if (h == NULL)
            return c->inlen > 65536 ? -1 : 0;
        if (c->inlen < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
            return -1;
        c->status = atoi(c->in + 9);
        if (c->status < 100 || c->status > 599)
            return -1;
        if (c->in[7] == '0')
            c->close_after = 1; /* HTTP/1.0 without keep-alive: the server closes */
        const char *p = memchr(c->in, '\n', (size_t)(h - c->in));
        for (p = p != NULL ? p + 1 : h; p < h;) {
            const char *e = memchr(p, '\r', (size_t)(h - p));
            if (e == NULL)
                e = h;
            header_line(c, p, e);
            p = e + 2;
        }
        c->hdr_end = (size_t)(h + 4 - c->in);
        c->chunk_pos = c->hdr_end;
        if (c->status == 204 || c->status == 304 || (c->status >= 100 && c->status < 200))
            c->clen = 0;
        if (!c->chunked && c->clen < 0)
            return -1; /* citasd always frames its bodies */
    }
    if (!c->chunked)
        return c->inlen - c->hdr_end >= (size_t)c->clen;
    /* chunked: decode in place (decoded bytes never overtake the raw ones) */
    while (!c->chunk_done) {
        char *p = c->in + c->chunk_pos, *end = c->in + c->inlen;
        char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (nl == NULL)
            return 0;
        char *hexend;
        unsigned long long size = strtoull(p, &hexend, 16);
        if (hexend == p)
            return -1;
        if (size == 0) {
            /* trailers, up to an empty line */
            char *t = nl + 2;
            for (;;) {
                char *e = memmem(t, (size_t)(end - t), "\r\n", 2);
                if (e == NULL)
                    return 0;
                if (e == t)
                    break;
                t = e + 2;
            }
            c->chunk_done = 1;
            break;
        }
        if (size > IN_MAX || (size_t)(end - (nl + 2)) < size + 2)
            return 0;
        memmove(c->in + c->hdr_end + c->dec_len, nl + 2, size);
        c->dec_len += size;
        c->chunk_pos = (size_t)(nl + 2 + size + 2 - c->in);
    }
    return 1;
}

/*
 * gzip bodies inflated, remembered by their compressed bytes. Every client polling within one cache period of
 * a citasd worker gets the same bytes; inflating each copy again made the single-threaded generator the
 * machine's bottleneck (a browser inflates its own). GZ_MEMO entries, the oldest replaced.
 */
#define GZ_MEMO 8
static struct gz_memo {
    char *zip, *plain;
    size_t zip_len, plain_len;
} gz_memo[GZ_MEMO];
static unsigned gz_memo_next;

/* Inflates [in, in + n) into a new buffer (NUL-terminated); 0 or -1. */
static int inflate_new(const char *in, size_t n, char **out, size_t *out_len)
{
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return -1;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    char *buf = NULL;
    size_t cap = 0, have = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (cap - have < 4096) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = ncap <= IN_MAX ? realloc(buf, ncap) : NULL;
            if (nb == NULL)
                break;
            buf = nb;
            cap = ncap;
        }
        z.next_out = (Bytef *)buf + have;
        z.avail_out = (uInt)(cap - have - 1);
        rc = inflate(&z, Z_NO_FLUSH);
        have = (size_t)z.total_out;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    buf[have] = '\0';
    *out = buf;
    *out_len = have;
    return 0;
}

/* Points a's body at the inflated form of its gzip body (valid until GZ_MEMO other bodies came). 0 or -1. */
static int inflate_body(struct gen_answer *a)
{
    for (unsigned i = 0; i < GZ_MEMO; i++) {
        struct gz_memo *m = &gz_memo[i];
        if (m->zip != NULL && m->zip_len == a->len && memcmp(m->zip, a->body, a->len) == 0) {
            a->body = m->plain;
            a->len = m->plain_len;
            return 0;
        }
    }
    char *plain, *zip = malloc(a->len > 0 ? a->len : 1);
    size_t plain_len;
    if (zip == NULL || inflate_new(a->body, a->len, &plain, &plain_len) != 0) {
        free(zip);
        return -1;
    }
    memcpy(zip, a->body, a->len);
    struct gz_memo *m = &gz_memo[gz_memo_next++ % GZ_MEMO];
    free(m->zip);
    free(m->plain);
    *m = (struct gz_memo){.zip = zip, .plain = plain, .zip_len = a->len, .plain_len = plain_len};
    a->body = plain;
    a->len = plain_len;
    return 0;
}

static void on_readable(struct conn *c)
{
    for (;;) {
        if (c->incap - c->inlen < 4096) {
            size_t nc = c->incap ? c->incap * 2 : 16384;
            char *nb = nc <= IN_MAX ? realloc(c->in, nc) : NULL;
            if (nb == NULL) {
                if (c->state == C_BUSY)
                    fail_conn(c, "too_big");
                else
                    conn_close(c);
                return;
            }
            c->in = nb;
            c->incap = nc;
        }
        ssize_t n = recv(c->fd, c->in + c->inlen, c->incap - 1 - c->inlen, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (c->state == C_BUSY)
                fail_conn(c, "reset");
            else
                conn_close(c);
            return;
        }
        if (c->state != C_BUSY) { /* nothing was asked: drop the connection */
            conn_close(c);
            return;
        }
        c->inlen += (size_t)n;
        int r = parse(c);
        if (r < 0) {
            fail_conn(c, "bad_http");
            return;
        }
        if (r == 0)
            continue;
        struct gen_user *u = c->u;
        struct gen_answer a = {.status = c->status, .retry_after_s = c->retry_after};
        a.body = c->in + c->hdr_end;
        a.len = c->chunked ? c->dec_len : (size_t)c->clen;
        c->in[c->hdr_end + a.len] = '\0';
        if (c->gzipped) {
            if (inflate_body(&a) != 0) {
                fail_conn(c, "bad_gzip");
                return;
            }
            gen_net_gzipped++;
        }
        a.cookie = c->cookie[0] ? c->cookie : NULL;
        int64_t now = gen_now_us();
        a.latency_us = c->sent_us > 0 ? now - c->sent_us : 0;
        a.queue_us = (c->sent_us > 0 ? c->sent_us : now) - u->queued_us;
        gen_net_answers_ok++;
        struct group *g = &groups[c->group];
        if (c->close_after)
            conn_close(c);
        else
            make_idle(c);
        gen_user_answer(u, &a);
        dispatch(g);
        return;
    }
}

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    struct group *g = &groups[c->group];
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        conn_close(c);
        gen_net_connect_fails++;
        struct gen_user *u = dequeue(g);
        if (u != NULL)
            fail_user(u, err == ECONNREFUSED ? "refused" : "connect_failed", 0);
        dispatch(g);
        return;
    }
    g->connecting--;
    set_events(c, 0);
    struct gen_user *u = dequeue(g);
    if (u != NULL) {
        c->state = C_BUSY;
        send_req(c, u);
    } else {
        make_idle(c);
    }
}

static void sweep(int64_t now)
{
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if ((c->state == C_BUSY || c->state == C_CONNECTING) && now >= c->deadline_ms) {
            struct group *g = &groups[c->group];
            if (c->state == C_BUSY) {
                fail_conn(c, "timeout");
            } else {
                conn_close(c);
                gen_net_connect_fails++;
                struct gen_user *u = dequeue(g);
                if (u != NULL)
                    fail_user(u, "timeout", 0);
            }
            dispatch(g);
        } else if (c->state == C_IDLE && now - c->idle_since_ms >= gen_o.idle_close_ms) {
            conn_close(c);
        }
    }
}

int gen_net_poll(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    if (n < 0 && errno != EINTR)
        return -1;
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        if (c->state == C_CLOSED)
            continue; /* closed by an earlier event of this batch */
        if (c->state == C_CONNECTING) {
            if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                on_connected(c);
            continue;
        }
        if ((evs[i].events & EPOLLOUT) && c->state == C_BUSY && c->outoff < c->outlen) {
            if (flush_out(c) != 0) {
                struct group *g = &groups[c->group];
                fail_conn(c, "reset");
                dispatch(g);
                continue;
            }
        }
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            struct group *g = &groups[c->group];
            on_readable(c);
            dispatch(g);
        }
    }
    int64_t now = gen_now_ms();
    if (now - last_sweep >= 50) {
        last_sweep = now;
        sweep(now);
    }
    return 0;
}

void gen_net_abort(void)
{
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->state == C_BUSY)
            fail_conn(c, "timeout");
        else if (c->state != C_CLOSED)
            conn_close(c);
    }
    for (int i = 0; i < ngroups; i++)
        while (dequeue(&groups[i]) != NULL)
            ;
}

void gen_net_close(void)
{
    for (int i = 0; i < nconns; i++) {
        if (conns[i].state != C_CLOSED)
            conn_close(&conns[i]);
        free(conns[i].in);
    }
    free(conns);
    free(groups);
    for (unsigned i = 0; i < GZ_MEMO; i++) {
        free(gz_memo[i].zip);
        free(gz_memo[i].plain);
        gz_memo[i] = (struct gz_memo){0};
    }
    if (ep >= 0)
        close(ep);
}
