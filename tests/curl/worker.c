/* The worker loop of the curl test and the client thread probing it: see worker.h. */
#include "worker.h"
#include "harness.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct worker W;

static int on_ping(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    W.served++;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain"));
    h2o_send_inline(req, H2O_STRLIT("pong\n"));
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&W.accept_ctx, sock);
}

int worker_start(void)
{
    W.loop = h2o_evloop_create();
    if (ring_create(W.loop, 256, &W.ring) != 0)
        return -1;
    h2o_config_init(&W.config);
    h2o_hostconf_t *host = h2o_config_register_host(&W.config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));
    h->on_req = on_ping;
    h2o_context_init(&W.ctx, W.loop, &W.config);
    W.accept_ctx.ctx = &W.ctx;
    W.accept_ctx.hosts = W.config.hosts;

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        return -1;
    W.port = ntohs(a.sin_port);
    W.listener = h2o_evloop_socket_create(W.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(W.listener, on_accept);
    return 0;
}

void turns(int n)
{
    for (int i = 0; i < n; i++)
        ring_run_once(W.ring, 5);
}

void worker_stop(void)
{
    h2o_socket_read_stop(W.listener);
    h2o_socket_close(W.listener);
    turns(5);
    h2o_context_dispose(&W.ctx);
    h2o_config_dispose(&W.config);
    ring_destroy(W.ring);
    h2o_evloop_destroy(W.loop);
}

static int http_get_ping(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char req[] = "GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n";
    char buf[1024];
    size_t len = 0;
    int rc = -1;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(req) - 1)) {
        ssize_t n;
        while (len + 1 < sizeof(buf) && (n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
            len += (size_t)n;
        buf[len] = '\0';
        rc = strncmp(buf, "HTTP/1.", 7) == 0 && strstr(buf, " 200 ") && strstr(buf, "pong") ? 0 : -1;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

void *prober_main(void *arg)
{
    struct prober *p = arg;
    while (!__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST)) {
        long long t0 = harness_now_ms();
        int rc = http_get_ping(p->port);
        long long t1 = harness_now_ms();
        if (rc != 0) {
            p->bad++;
        } else {
            p->ok++;
            if (p->n < 4096) {
                p->t0[p->n] = t0;
                p->t1[p->n] = t1;
                p->n++;
            }
        }
        usleep(20000);
    }
    return NULL;
}
