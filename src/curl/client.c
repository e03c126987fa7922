/*
 * The bridge between libcurl's multi interface and the ring.
 *
 * Sockets: each socket libcurl watches gets a `struct curl_sock` (attached with curl_multi_assign) holding
 * two one-shot ring_poll ops, one per direction. An op is armed while libcurl wants its direction and
 * re-armed after each completion; when libcurl stops wanting it (or removes the socket) the op is
 * cancelled. A removed socket's struct is marked dead and unlinked from the client, and frees itself when
 * its last op completes: the ring may still hold its ops after libcurl closed the fd and even after the
 * client is gone.
 *
 * Timer: one ring_timeout op in a separately allocated `struct curl_timer`, for the same reason. When
 * libcurl moves its deadline the pending timeout is cancelled; its completion re-arms for what is left.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct curl_sock {
    struct ring_op in, out;
    struct curl_client *c; /* meaningless once dead */
    curl_socket_t fd;
    int want; /* CURL_POLL_IN / CURL_POLL_OUT bits */
    int in_armed, out_armed;
    int in_cancel, out_cancel;
    int busy; /* inside on_poll: do not free */
    int dead;
    struct curl_sock *prev, *next;
};

struct curl_timer {
    struct ring_op op;
    struct curl_client *c; /* NULL once the client is destroyed */
    int armed, cancelling;
    int has_deadline;
    uint64_t deadline, armed_for; /* monotonic ms */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- transfers done ---- */

static void process_done(struct curl_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode code = msg->data.result;
        struct curl_client_transfer *t = NULL;
        if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t) != CURLE_OK || t == NULL)
            continue; /* not one of ours: cannot happen */
        client_finish(t, code, 0);
    }
}

static void action(struct curl_client *c, curl_socket_t fd, int ev)
{
    int running;
    /* a CURLM error here means a bug of ours (bad handle) or out of memory; transfers still end by their
     * own timeouts, so there is nothing better to do than to go on */
    (void)curl_multi_socket_action(c->multi, fd, ev, &running);
    process_done(c);
}

/* ---- sockets ---- */

static void sock_maybe_free(struct curl_sock *s)
{
    if (s->dead && !s->busy && !s->in_armed && !s->out_armed)
        free(s);
}

static void on_poll(struct ring_op *op, int res);

static void sock_sync(struct curl_sock *s)
{
    struct ring *r = s->c->ring;
    if ((s->want & CURL_POLL_IN) && !s->in_armed) {
        if (ring_poll(r, &s->in, s->fd, POLLIN) == 0)
            s->in_armed = 1;
    } else if (!(s->want & CURL_POLL_IN) && s->in_armed && !s->in_cancel) {
        if (ring_cancel(r, &s->in) == 0)
            s->in_cancel = 1;
    }
    if ((s->want & CURL_POLL_OUT) && !s->out_armed) {
        if (ring_poll(r, &s->out, s->fd, POLLOUT) == 0)
            s->out_armed = 1;
    } else if (!(s->want & CURL_POLL_OUT) && s->out_armed && !s->out_cancel) {
        if (ring_cancel(r, &s->out) == 0)
            s->out_cancel = 1;
    }
}

static void sock_kill(struct curl_sock *s)
{
    struct curl_client *c = s->c;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->dead = 1;
    s->want = 0;
    sock_sync(s); /* cancels what is armed */
    sock_maybe_free(s);
}

static void on_poll(struct ring_op *op, int res)
{
    struct curl_sock *s = op->data;
    int dir;
    if (op == &s->in) {
        s->in_armed = s->in_cancel = 0;
        dir = CURL_POLL_IN;
    } else {
        s->out_armed = s->out_cancel = 0;
        dir = CURL_POLL_OUT;
    }
    if (s->dead) {
        sock_maybe_free(s);
        return;
    }
    if (res == -ECANCELED || !(s->want & dir)) {
        sock_sync(s); /* libcurl changed its mind meanwhile */
        return;
    }
    int ev = dir == CURL_POLL_IN ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
    if (res < 0 || (res & (POLLERR | POLLNVAL)))
        ev |= CURL_CSELECT_ERR;
    s->busy++;
    action(s->c, s->fd, ev);
    s->busy--;
    if (s->dead)
        sock_maybe_free(s);
    else
        sock_sync(s);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct curl_client *c = userp;
    struct curl_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL)
            sock_kill(s);
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        if (curl_multi_assign(c->multi, fd, s) != CURLM_OK) {
            free(s);
            return -1;
        }
        s->c = c;
        s->fd = fd;
        s->in = (struct ring_op){.cb = on_poll, .data = s};
        s->out = (struct ring_op){.cb = on_poll, .data = s};
        s->next = c->socks;
        if (c->socks != NULL)
            c->socks->prev = s;
        c->socks = s;
    }
    s->want = what & (CURL_POLL_IN | CURL_POLL_OUT);
    sock_sync(s);
    return 0;
}

/* ---- timer ---- */

static void timer_arm(struct curl_timer *t, struct ring *r, uint64_t ms)
{
    if (ring_timeout(r, &t->op, ms) == 0) {
        t->armed = 1;
        t->armed_for = t->deadline;
    }
}

static void on_timer(struct ring_op *op, int res)
{
    struct curl_timer *t = op->data;
    t->armed = t->cancelling = 0;
    if (t->c == NULL) {
        free(t);
        return;
    }
    if (!t->has_deadline)
        return;
    uint64_t now = now_ms();
    if ((res == -ETIME && t->armed_for == t->deadline) || now >= t->deadline) {
        t->has_deadline = 0;
        action(t->c, CURL_SOCKET_TIMEOUT, 0);
    } else {
        timer_arm(t, t->c->ring, t->deadline - now);
    }
}

/* libcurl's timer callback: -1 stops the timer, 0 means "act as soon as possible" (next turn). */
static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct curl_client *c = userp;
    struct curl_timer *t = c->timer;
    if (timeout_ms < 0) {
        t->has_deadline = 0;
    } else {
        t->has_deadline = 1;
        t->deadline = now_ms() + (uint64_t)timeout_ms;
        if (!t->armed) {
            timer_arm(t, c->ring, (uint64_t)timeout_ms);
            return 0;
        }
        if (t->armed_for == t->deadline)
            return 0;
    }
    if (t->armed && !t->cancelling && ring_cancel(c->ring, &t->op) == 0)
        t->cancelling = 1;
    return 0;
}

/* ---- client ---- */

int curl_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void curl_client_global_cleanup(void)
{
    curl_global_cleanup();
}

int curl_client_create(struct ring *ring, const struct curl_client_options *opts, struct curl_client **out)
{
    struct curl_client_options none = {0};
    if (opts == NULL)
        opts = &none;
    struct curl_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->ring = ring;
    c->max_response_bytes = opts->max_response_bytes ? opts->max_response_bytes : 1u << 20;
    c->connect_timeout_ms = opts->connect_timeout_ms ? (long)opts->connect_timeout_ms : 5000;
    c->user_agent = strdup(opts->user_agent ? opts->user_agent : "citas/0.1");
    c->ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
    c->timer = calloc(1, sizeof(*c->timer));
    c->multi = curl_multi_init();
    if (c->user_agent == NULL || (opts->ca_file && c->ca_file == NULL) || c->timer == NULL ||
        c->multi == NULL)
        goto fail;
    c->timer->c = c;
    c->timer->op = (struct ring_op){.cb = on_timer, .data = c->timer};
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK)
        goto fail;
    *out = c;
    return 0;
fail:
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    free(c->timer);
    free(c->user_agent);
    free(c->ca_file);
    free(c);
    return -ENOMEM;
}

void curl_client_destroy(struct curl_client *c)
{
    if (c == NULL)
        return;
    while (c->transfers != NULL)
        client_finish(c->transfers, CURLE_OK, 1);
    /* may close cached connections, reporting their sockets and a last timer change */
    curl_multi_cleanup(c->multi);
    while (c->socks != NULL)
        sock_kill(c->socks);
    struct curl_timer *t = c->timer;
    if (t->armed) {
        t->c = NULL; /* on_timer frees it */
        if (!t->cancelling)
            ring_cancel(c->ring, &t->op);
    } else {
        free(t);
    }
    free(c->user_agent);
    free(c->ca_file);
    free(c);
}

int client_start(struct curl_client *c, struct curl_client_transfer *t)
{
    t->c = c;
    CURLMcode mc = curl_multi_add_handle(c->multi, t->easy);
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    t->next = c->transfers;
    if (c->transfers != NULL)
        c->transfers->prev = t;
    c->transfers = t;
    c->stats.started++;
    c->stats.in_flight++;
    return 0;
}

static int map_error(const struct curl_client_transfer *t, CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_FILESIZE_EXCEEDED:
        return -EMSGSIZE;
    case CURLE_WRITE_ERROR:
        return t->too_big ? -EMSGSIZE : -EIO;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        return -EPROTO;
    }
}

void client_finish(struct curl_client_transfer *t, CURLcode code, int cancelled)
{
    struct curl_client *c = t->c;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        c->transfers = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    /* removing reports the transfer's sockets and timer changes through our callbacks, which is fine:
     * we are not inside a libcurl call here */
    (void)curl_multi_remove_handle(c->multi, t->easy);

    struct curl_client_result res = {0};
    res.error = cancelled ? -ECANCELED : map_error(t, code);
    res.curl_code = cancelled ? 0 : (int)code;
    if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &res.status) != CURLE_OK)
        res.status = 0;
    if (res.error == 0)
        res.error_text = "";
    else if (cancelled)
        res.error_text = "transfer cancelled";
    else if (res.error == -EMSGSIZE)
        res.error_text = "response too large";
    else
        res.error_text = t->errbuf[0] ? t->errbuf : curl_easy_strerror(code);
    res.body = t->body ? t->body : "";
    res.body_len = t->body_len;

    c->stats.finished++;
    c->stats.in_flight--;
    if (res.error != 0)
        c->stats.failed++;
    t->cb(&res, t->ctx);
    transfer_free(t);
}

void curl_client_cancel(struct curl_client_transfer *t)
{
    if (t == NULL)
        return;
    client_finish(t, CURLE_OK, 1);
}

void curl_client_get_stats(const struct curl_client *c, struct curl_client_stats *out)
{
    *out = c->stats;
}
