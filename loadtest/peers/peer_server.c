/* Listener, accept thread and connection threads of the test peers. */
#include "peer_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    struct peer_server *srv;
    int fd;
    int done;
    pthread_t thread;
    struct conn *next;
};

struct peer_server {
    int lfd, port;
    int wake[2]; /* a pipe: written once on stop, wakes peer_server_sleep() */
    int stopping;
    peer_conn_fn fn;
    void *ctx;
    pthread_t accept_thread;
    pthread_mutex_t lock;
    struct conn *conns;
};

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    c->srv->fn(c->srv, c->fd, c->srv->ctx);
    pthread_mutex_lock(&c->srv->lock);
    c->done = 1;
    pthread_mutex_unlock(&c->srv->lock);
    return NULL;
}

/* Joins finished connections; with `all`, shuts the others down first and joins them too. */
static void reap(struct peer_server *srv, int all)
{
    pthread_mutex_lock(&srv->lock);
    struct conn **pp = &srv->conns;
    while (*pp != NULL) {
        struct conn *c = *pp;
        if (all && !c->done)
            shutdown(c->fd, SHUT_RDWR);
        if (!c->done && !all) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        pthread_mutex_unlock(&srv->lock);
        pthread_join(c->thread, NULL);
        close(c->fd);
        free(c);
        pthread_mutex_lock(&srv->lock);
        pp = &srv->conns;
    }
    pthread_mutex_unlock(&srv->lock);
}

static void *accept_main(void *arg)
{
    struct peer_server *srv = arg;
    for (;;) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
                continue;
            break; /* shutdown() by peer_server_stop(): EINVAL */
        }
        if (__atomic_load_n(&srv->stopping, __ATOMIC_ACQUIRE)) {
            close(fd);
            break;
        }
        reap(srv, 0);
        struct conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->srv = srv;
        c->fd = fd;
        pthread_mutex_lock(&srv->lock);
        if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            pthread_mutex_unlock(&srv->lock);
            close(fd);
            free(c);
            continue;
        }
        c->next = srv->conns;
        srv->conns = c;
        pthread_mutex_unlock(&srv->lock);
    }
    return NULL;
}

int peer_server_start(int port, peer_conn_fn fn, void *ctx, struct peer_server **out)
{
    struct peer_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return -ENOMEM;
    srv->fn = fn;
    srv->ctx = ctx;
    srv->wake[0] = srv->wake[1] = -1;
    int rc;
    srv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv->lfd < 0 || pipe2(srv->wake, O_CLOEXEC) != 0)
        goto fail_errno;
    int one = 1;
    setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    /* a burst of new connections (citasd's curl opens one per concurrent siteverify call) overflows a short
     * accept queue: the kernel drops the SYNs and the clients retry after a second */
    if (bind(srv->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(srv->lfd, SOMAXCONN) != 0 ||
        getsockname(srv->lfd, (struct sockaddr *)&a, &alen) != 0)
        goto fail_errno;
    srv->port = ntohs(a.sin_port);
    pthread_mutex_init(&srv->lock, NULL);
    if ((rc = pthread_create(&srv->accept_thread, NULL, accept_main, srv)) != 0) {
        pthread_mutex_destroy(&srv->lock);
        rc = -rc;
        goto fail;
    }
    *out = srv;
    return 0;
fail_errno:
    rc = -errno;
fail:
    if (srv->lfd >= 0)
        close(srv->lfd);
    if (srv->wake[0] >= 0) {
        close(srv->wake[0]);
        close(srv->wake[1]);
    }
    free(srv);
    return rc;
}

int peer_server_port(const struct peer_server *srv)
{
    return srv->port;
}

int peer_server_sleep(struct peer_server *srv, int ms)
{
    struct pollfd p = {.fd = srv->wake[0], .events = POLLIN};
    int n = poll(&p, 1, ms);
    return n > 0 ? -1 : 0;
}

void peer_server_stop(struct peer_server *srv)
{
    if (srv == NULL)
        return;
    __atomic_store_n(&srv->stopping, 1, __ATOMIC_RELEASE);
    if (write(srv->wake[1], "x", 1) != 1) {
        /* a fresh pipe has room for one byte: cannot happen */
    }
    shutdown(srv->lfd, SHUT_RDWR);
    pthread_join(srv->accept_thread, NULL);
    reap(srv, 1);
    close(srv->lfd);
    close(srv->wake[0]);
    close(srv->wake[1]);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

ssize_t peer_read_line(struct peer_reader *r, char *line, size_t cap)
{
    size_t n = 0;
    int too_long = 0;
    for (;;) {
        if (r->off == r->len) {
            ssize_t got = recv(r->fd, r->buf, sizeof(r->buf), 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return -1;
            r->off = 0;
            r->len = (size_t)got;
        }
        char ch = r->buf[r->off++];
        if (ch == '\n')
            break;
        if (n + 1 < cap)
            line[n++] = ch;
        else
            too_long = 1;
    }
    if (n > 0 && line[n - 1] == '\r' && !too_long)
        n--;
    line[n] = '\0';
    return too_long ? -2 : (ssize_t)n;
}

int peer_read_exact(struct peer_reader *r, void *dst, size_t n)
{
    char *d = dst;
    while (n > 0) {
        if (r->off == r->len) {
            ssize_t got = recv(r->fd, r->buf, sizeof(r->buf), 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return -1;
            r->off = 0;
            r->len = (size_t)got;
        }
        size_t k = r->len - r->off < n ? r->len - r->off : n;
        memcpy(d, r->buf + r->off, k);
        r->off += k;
        d += k;
        n -= k;
    }
    return 0;
}

int peer_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}
