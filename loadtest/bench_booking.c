/*
 * bench_booking PORT SESSIONS_FILE FIRST COUNT CONNECTIONS PROCEDURE SLOT...
 *
 * Closed-loop HTTP/1.1 client for the booking path: CONNECTIONS keep-alive connections to 127.0.0.1:PORT,
 * each sending POST /api/v1/appointments with the next unused citizen session (lines FIRST..FIRST+COUNT-1
 * of SESSIONS_FILE, "token csrf" per line) for the slots given, round robin. Every answer's latency is
 * recorded by status; prints one line per status: "status=201 count=N rate=R/s p50_ms=X p99_ms=Y", where
 * the rate is count / (time from the first request to that status's last answer).
 * Single-threaded epoll; a benchmark tool, not part of citasd.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    char out[1024];
    size_t outlen, outoff;
    char in[8192];
    size_t inlen;
    double sent_at;
};

struct lat {
    double *v;
    size_t n, cap;
    double last;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char **tokens, **csrfs;
static long next_session, end_session;
static long *slots;
static int nslots;
static const char *procedure;
static struct lat lats[600];
static long inflight;

static int prepare(struct conn *c)
{
    if (next_session >= end_session)
        return 0;
    long i = next_session++;
    char body[256];
    int bl =
        snprintf(body, sizeof(body), "{\"slot\":%ld,\"procedure\":\"%s\"}", slots[i % nslots], procedure);
    c->outlen = (size_t)snprintf(c->out, sizeof(c->out),
                                 "POST /api/v1/appointments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 "Content-Type: application/json\r\nCookie: citas_session=%s\r\n"
                                 "X-CSRF-Token: %s\r\nContent-Length: %d\r\n\r\n%s",
                                 tokens[i], csrfs[i], bl, body);
    c->outoff = 0;
    c->inlen = 0;
    c->sent_at = now_ms();
    inflight++;
    return 1;
}

static int flush_out(struct conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->outoff += (size_t)n;
    }
    return 0;
}

/* 1 when a whole response is in c->in: records it. */
static int take_response(struct conn *c)
{
    c->in[c->inlen] = '\0';
    char *hend = strstr(c->in, "\r\n\r\n");
    if (hend == NULL)
        return 0;
    long clen = 0;
    char *cl = strcasestr(c->in, "\r\ncontent-length:");
    if (cl != NULL && cl < hend)
        clen = strtol(cl + 17, NULL, 10);
    if ((size_t)(hend + 4 - c->in) + (size_t)clen > c->inlen)
        return 0;
    int status = atoi(c->in + 9);
    if (status < 0 || status >= 600)
        status = 0;
    struct lat *l = &lats[status];
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof(double));
        if (l->v == NULL)
            exit(1);
    }
    double t = now_ms();
    l->v[l->n++] = t - c->sent_at;
    l->last = t;
    inflight--;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr,
                "usage: bench_booking PORT SESSIONS_FILE FIRST COUNT CONNECTIONS PROCEDURE SLOT...\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long first = atol(argv[3]), count = atol(argv[4]);
    int nconn = atoi(argv[5]);
    procedure = argv[6];
    nslots = argc - 7;
    slots = calloc((size_t)nslots, sizeof(long));
    for (int i = 0; i < nslots; i++)
        slots[i] = atol(argv[7 + i]);
    FILE *f = fopen(argv[2], "r");
    if (f == NULL) {
        perror(argv[2]);
        return 1;
    }
    tokens = calloc((size_t)(first + count), sizeof(char *));
    csrfs = calloc((size_t)(first + count), sizeof(char *));
    char t[128], s[128];
    long n = 0;
    while (n < first + count && fscanf(f, "%127s %127s", t, s) == 2) {
        tokens[n] = strdup(t);
        csrfs[n] = strdup(s);
        n++;
    }
    fclose(f);
    if (n < first + count) {
        fprintf(stderr, "bench_booking: only %ld sessions in %s\n", n, argv[2]);
        return 1;
    }
    next_session = first;
    end_session = first + count;

    int ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)nconn, sizeof(*conns));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    double start = now_ms();
    for (int i = 0; i < nconn; i++) {
        struct conn *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            perror("connect");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        if (prepare(c) && flush_out(c) != 0)
            return 1;
    }
    struct epoll_event evs[256];
    while (inflight > 0) {
        int k = epoll_wait(ep, evs, 256, 10000);
        if (k <= 0) {
            fprintf(stderr, "bench_booking: no answer for 10 s\n");
            return 1;
        }
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
            if (r <= 0) {
                fprintf(stderr, "bench_booking: connection closed by the server\n");
                return 1;
            }
            c->inlen += (size_t)r;
            if (take_response(c) && prepare(c) && flush_out(c) != 0)
                return 1;
        }
    }
    double total = now_ms() - start;
    for (int st = 0; st < 600; st++) {
        struct lat *l = &lats[st];
        if (l->n == 0)
            continue;
        qsort(l->v, l->n, sizeof(double), cmpd);
        double span = l->last - start;
        printf("status=%d count=%zu rate=%.0f/s p50_ms=%.2f p99_ms=%.2f\n", st, l->n, l->n / (span / 1e3),
               l->v[l->n / 2], l->v[(size_t)((double)l->n * 0.99)]);
    }
    printf("total_ms=%.0f requests=%ld connections=%d\n", total, count, nconn);
    return 0;
}
