/*
 * A worker thread: its h2o loop, io_uring ring, listeners and backends, and its part of the graceful
 * shutdown (stop accepting, let open connections finish their requests, close the backends).
 */
#include "internal.h"
#include "citas/ring.h"

#include <errno.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct server_worker *w = listener->data;
    if (err != NULL)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock == NULL)
        return;
    h2o_accept(listener == w->tls_sock ? &w->accept_tls : &w->accept_plain, sock);
}

static h2o_socket_t *listen_on(struct server_worker *w, int fd)
{
    if (fd < 0)
        return NULL;
    h2o_socket_t *sock = h2o_evloop_socket_create(w->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = w;
    h2o_socket_read_start(sock, on_accept);
    return sock;
}

static void close_listener(h2o_socket_t **sock)
{
    if (*sock == NULL)
        return;
    h2o_socket_read_stop(*sock);
    h2o_socket_close(*sock);
    *sock = NULL;
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
    (void)err;
    h2o_buffer_consume(&sock->input, sock->input->size);
}

static size_t open_connections(struct server_worker *w)
{
    size_t n = 0;
    for (h2o_linklist_t *l = w->ctx.http1._conns.next; l != &w->ctx.http1._conns; l = l->next)
        n++;
    for (h2o_linklist_t *l = w->ctx.http2._conns.next; l != &w->ctx.http2._conns; l = l->next)
        n++;
    return n;
}

#define SHUTDOWN_IDLE_GRACE_MS 2000

static void begin_stop(struct server_worker *w)
{
    w->stopping = 1;
    w->stop_deadline = server_monotonic_ms() + w->srv->cfg->shutdown_timeout_ms;
    close_listener(&w->listen_sock);
    close_listener(&w->tls_sock);
    /* HTTP/2 connections get GOAWAY; HTTP/1 connections close after their current response */
    h2o_context_request_shutdown(&w->ctx);
    /* h2o 2.2 leaves idle HTTP/1 keep-alive connections open until their request timeout: shorten it, so
     * they close within the grace period, while a request still arriving (body in progress) keeps that
     * long between reads */
    if (w->ctx.http1.req_timeout.timeout > SHUTDOWN_IDLE_GRACE_MS)
        w->ctx.http1.req_timeout.timeout = SHUTDOWN_IDLE_GRACE_MS;
}

static void teardown(struct server_worker *w);

static void publish_hist(struct worker_hist *to, const struct ring_hist *from)
{
    for (unsigned b = 0; b < RING_HIST_BUCKETS; b++)
        atomic_store_explicit(&to->n[b], from->n[b], memory_order_relaxed);
    atomic_store_explicit(&to->sum_us, from->sum_us, memory_order_relaxed);
}

/* Copies the ring's counters where /metrics, on any worker, reads them. */
static void publish_ring_stats(struct server_worker *w)
{
    struct ring_stats st;
    ring_get_stats(w->ring, &st);
    atomic_store_explicit(&w->health.ring_pokes, st.pokes, memory_order_relaxed);
    publish_hist(&w->health.ring_queued, &st.queued);
    publish_hist(&w->health.ring_turns, &st.turns);
}

static int init(struct server_worker *w)
{
    /* Linux keeps a nice value per thread */
    if (w->background && w->srv->cfg->background_nice > 0 &&
        setpriority(PRIO_PROCESS, (id_t)gettid(), (int)w->srv->cfg->background_nice) != 0)
        return -errno;
    admission_init(w);
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &w->srv->globalconf);
    int rc = ring_create(w->loop, w->srv->cfg->ring_entries, &w->ring);
    if (rc < 0)
        return rc;
    ring_set_poke(w->ring, w->srv->cfg->ring_poke_us, w->srv->cfg->ring_poke_drain);
    /* h2o closes the fd it watches; the main thread keeps writing to its own, closed after the join */
    int fd = dup(w->wake_fd);
    if (fd < 0)
        return -errno;
    w->wake_sock = h2o_evloop_socket_create(w->loop, fd, 0);
    w->wake_sock->data = w;
    h2o_socket_read_start(w->wake_sock, on_wake);
    w->accept_plain = (h2o_accept_ctx_t){.ctx = &w->ctx, .hosts = w->srv->globalconf.hosts};
    w->accept_tls = w->accept_plain;
    w->accept_tls.ssl_ctx = w->srv->ssl_ctx;
    return backends_start(w);
}

/* The worker's loop. After a stop request it runs until every client connection has closed (h2o closes each
 * HTTP/1 connection after its current response and sends GOAWAY on HTTP/2) or the deadline passes. */
static void *worker_main(void *arg)
{
    struct server_worker *w = arg;
    /* h2o's buffer allocators are thread-local: everything h2o touches is created on this thread */
    w->init_rc = init(w);
    sem_post(&w->started);
    if (w->init_rc != 0) {
        /* the clients made before the failure free their memory once the ring delivers their cancelled
         * operations: give it a few turns, as a normal stop does */
        backends_stop(w);
        for (int i = 0; w->ring != NULL && i < 3; i++)
            ring_run_once(w->ring, 5);
        teardown(w);
        return NULL;
    }
    w->listen_sock = listen_on(w, w->listen_fd);
    w->tls_sock = listen_on(w, w->tls_fd);
    for (;;) {
        ring_run_once(w->ring, w->stopping ? 20 : 1000);
        admission_run(w);
        publish_ring_stats(w);
        if (!w->stopping && atomic_load(&w->stop_requested))
            begin_stop(w);
        if (w->stopping) {
            size_t open = open_connections(w);
            if (open == 0)
                break;
            if (server_monotonic_ms() >= w->stop_deadline) {
                w->dropped = (int)open;
                break;
            }
        }
    }
    backends_stop(w);
    uint64_t deadline = server_monotonic_ms() + 2000;
    while (!backends_idle(w) && server_monotonic_ms() < deadline)
        ring_run_once(w->ring, 10);
    /* the clients free their memory once the ring has delivered their cancelled operations */
    for (int i = 0; i < 3; i++)
        ring_run_once(w->ring, 5);
    teardown(w);
    return NULL;
}

int worker_start(struct server_worker *w)
{
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0 || sem_init(&w->started, 0, 0) != 0)
        return -1;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return -1;
    while (sem_wait(&w->started) != 0)
        ;
    sem_destroy(&w->started);
    if (w->init_rc != 0) {
        pthread_join(w->thread, NULL);
        return -1;
    }
    return 0;
}

void worker_request_stop(struct server_worker *w)
{
    atomic_store(&w->stop_requested, 1);
    uint64_t one = 1;
    if (write(w->wake_fd, &one, sizeof(one)) < 0) {
        /* the counter is at its maximum: a wake-up is pending anyway */
    }
}

int worker_join(struct server_worker *w)
{
    pthread_join(w->thread, NULL);
    return w->dropped;
}

/* Frees what the worker owns, on the worker's thread (h2o's allocators are thread-local). With connections
 * dropped at the deadline h2o still references the loop: the process is about to exit, so leave it to the
 * kernel rather than free memory still in use. */
static void teardown(struct server_worker *w)
{
    backends_free(w);
    if (w->dropped > 0 || w->loop == NULL)
        return;
    if (w->wake_sock != NULL) {
        h2o_socket_read_stop(w->wake_sock);
        h2o_socket_close(w->wake_sock);
        w->wake_sock = NULL;
    }
    ring_destroy(w->ring);
    w->ring = NULL;
    /* request_shutdown() arms HTTP/2's graceful-shutdown timer even with no HTTP/2 connection left */
    if (h2o_timeout_is_linked(&w->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&w->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&w->ctx);
    h2o_evloop_destroy(w->loop);
    w->loop = NULL;
}

void worker_free(struct server_worker *w)
{
    if (w->wake_fd > 0)
        close(w->wake_fd);
    w->wake_fd = -1;
}
