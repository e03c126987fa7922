/* An SMTP server that stores messages as files: see smtp_sink.h. */
#include "smtp_sink.h"
#include "peer_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_LINE    65536
#define MAX_MESSAGE (50u << 20)

struct smtp_sink {
    struct peer_server *srv;
    char *dir;
    unsigned long count;
    unsigned long seq; /* last file number tried */
    unsigned long tmp_seq;
};

/* A growable byte buffer. */
struct buf {
    char *p;
    size_t len, cap;
    int failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

struct session {
    struct smtp_sink *sink;
    int fd;
    struct peer_reader rd;
    int has_from;
    struct buf from, to; /* envelope: "<a>" and "<a>, <b>" */
    unsigned nrcpt;
    char auth_user[256];
    char line[MAX_LINE];
};

static int reply(struct session *s, const char *text)
{
    return peer_write_all(s->fd, text, strlen(text));
}

static void reset(struct session *s)
{
    s->has_from = 0;
    s->from.len = s->to.len = 0;
    s->from.failed = s->to.failed = 0;
    s->nrcpt = 0;
}

/* The address between <> after "MAIL FROM:" / "RCPT TO:", or NULL. */
static const char *angle_addr(char *arg)
{
    char *lt = strchr(arg, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (gt == NULL)
        return NULL;
    *gt = '\0';
    return lt + 1;
}

static size_t b64_decode(const char *in, char *out, size_t cap)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(tbl, *in);
        if (p == NULL)
            return 0;
        acc = (acc << 6) | (unsigned)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 < cap)
                out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return n;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Stores one message; returns its number or 0 on failure. */
static unsigned long store(struct session *s, const struct buf *data)
{
    struct smtp_sink *k = s->sink;
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%d-%lu", k->dir, (int)getpid(),
             __atomic_add_fetch(&k->tmp_seq, 1, __ATOMIC_SEQ_CST));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return 0;
    struct buf h = {0};
    buf_str(&h, "X-Sink-From: ");
    buf_add(&h, s->from.p ? s->from.p : "", s->from.len);
    buf_str(&h, "\r\nX-Sink-To: ");
    buf_add(&h, s->to.p, s->to.len);
    buf_str(&h, "\r\n");
    if (s->auth_user[0]) {
        buf_str(&h, "X-Sink-Auth: ");
        buf_str(&h, s->auth_user);
        buf_str(&h, "\r\n");
    }
    int ok = !h.failed && write_all(fd, h.p, h.len) == 0 && write_all(fd, data->p, data->len) == 0;
    free(h.p);
    ok = close(fd) == 0 && ok;
    unsigned long n = 0;
    while (ok) {
        n = __atomic_add_fetch(&k->seq, 1, __ATOMIC_SEQ_CST);
        snprintf(path, sizeof(path), "%s/%06lu.eml", k->dir, n);
        if (link(tmp, path) == 0)
            break;
        if (errno != EEXIST || n > 999999)
            ok = 0;
    }
    unlink(tmp);
    if (!ok)
        return 0;
    __atomic_add_fetch(&k->count, 1, __ATOMIC_SEQ_CST);
    return n;
}

/* DATA: reads up to the lone ".", unstuffing; 0 to go on, -1 if the connection is gone. */
static int do_data(struct session *s)
{
    if (reply(s, "354 End data with <CR><LF>.<CR><LF>\r\n") != 0)
        return -1;
    struct buf data = {0};
    int too_big = 0;
    for (;;) {
        ssize_t n = peer_read_line(&s->rd, s->line, sizeof(s->line));
        if (n == -1) {
            free(data.p);
            return -1;
        }
        if (n == -2) {
            too_big = 1;
            continue;
        }
        if (n == 1 && s->line[0] == '.')
            break;
        const char *l = s->line[0] == '.' ? s->line + 1 : s->line;
        size_t len = s->line[0] == '.' ? (size_t)n - 1 : (size_t)n;
        if (data.len + len + 2 > MAX_MESSAGE)
            too_big = 1;
        if (!too_big) {
            buf_add(&data, l, len);
            buf_add(&data, "\r\n", 2);
        }
    }
    int rc;
    unsigned long num;
    char msg[128];
    if (too_big)
        rc = reply(s, "552 Message too big\r\n");
    else if (data.failed || (num = store(s, &data)) == 0)
        rc = reply(s, "451 Could not store message\r\n");
    else {
        snprintf(msg, sizeof(msg), "250 OK queued as %06lu\r\n", num);
        rc = reply(s, msg);
    }
    free(data.p);
    reset(s);
    return rc;
}

static int do_auth(struct session *s, char *arg)
{
    char dec[512];
    char *mech = strtok(arg, " "), *ir = strtok(NULL, " ");
    if (mech != NULL && strcasecmp(mech, "PLAIN") == 0) {
        if (ir == NULL) {
            if (reply(s, "334 \r\n") != 0 || peer_read_line(&s->rd, s->line, sizeof(s->line)) < 0)
                return -1;
            ir = s->line;
        }
        size_t n = b64_decode(ir, dec, sizeof(dec));
        /* authzid NUL authcid NUL password */
        const char *authcid = memchr(dec, '\0', n);
        snprintf(s->auth_user, sizeof(s->auth_user), "%.200s", authcid ? authcid + 1 : "");
        return reply(s, "235 2.7.0 Authentication successful\r\n");
    }
    if (mech != NULL && strcasecmp(mech, "LOGIN") == 0) {
        if (ir == NULL) {
            if (reply(s, "334 VXNlcm5hbWU6\r\n") != 0 || peer_read_line(&s->rd, s->line, sizeof(s->line)) < 0)
                return -1;
            ir = s->line;
        }
        b64_decode(ir, dec, sizeof(dec));
        snprintf(s->auth_user, sizeof(s->auth_user), "%.200s", dec);
        if (reply(s, "334 UGFzc3dvcmQ6\r\n") != 0 || peer_read_line(&s->rd, s->line, sizeof(s->line)) < 0)
            return -1;
        return reply(s, "235 2.7.0 Authentication successful\r\n");
    }
    return reply(s, "504 Unrecognized authentication type\r\n");
}

static int command(struct session *s, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg != NULL)
        *arg++ = '\0';
    else
        arg = line + strlen(line);
    if (strcasecmp(line, "EHLO") == 0) {
        reset(s);
        return reply(s, "250-smtp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
                        "250-AUTH PLAIN LOGIN\r\n250 SIZE 52428800\r\n");
    }
    if (strcasecmp(line, "HELO") == 0) {
        reset(s);
        return reply(s, "250 smtp-sink\r\n");
    }
    if (strcasecmp(line, "MAIL") == 0) {
        const char *a = strncasecmp(arg, "FROM:", 5) == 0 ? angle_addr(arg) : NULL;
        if (a == NULL)
            return reply(s, "501 Syntax: MAIL FROM:<address>\r\n");
        reset(s);
        buf_str(&s->from, "<");
        buf_str(&s->from, a);
        buf_str(&s->from, ">");
        s->has_from = 1;
        return reply(s, "250 OK\r\n");
    }
    if (strcasecmp(line, "RCPT") == 0) {
        const char *a = strncasecmp(arg, "TO:", 3) == 0 ? angle_addr(arg) : NULL;
        if (!s->has_from)
            return reply(s, "503 MAIL first\r\n");
        if (a == NULL)
            return reply(s, "501 Syntax: RCPT TO:<address>\r\n");
        if (strncasecmp(a, "reject", 6) == 0)
            return reply(s, "550 Recipient rejected\r\n");
        buf_str(&s->to, s->nrcpt++ ? ", <" : "<");
        buf_str(&s->to, a);
        buf_str(&s->to, ">");
        return reply(s, "250 OK\r\n");
    }
    if (strcasecmp(line, "DATA") == 0)
        return s->nrcpt == 0 ? reply(s, "503 RCPT first\r\n") : do_data(s);
    if (strcasecmp(line, "RSET") == 0) {
        reset(s);
        return reply(s, "250 OK\r\n");
    }
    if (strcasecmp(line, "NOOP") == 0)
        return reply(s, "250 OK\r\n");
    if (strcasecmp(line, "VRFY") == 0)
        return reply(s, "252 Cannot VRFY user\r\n");
    if (strcasecmp(line, "AUTH") == 0)
        return do_auth(s, arg);
    if (strcasecmp(line, "QUIT") == 0) {
        reply(s, "221 Bye\r\n");
        return -1;
    }
    return reply(s, "500 Command not recognized\r\n");
}

static void on_conn(struct peer_server *srv, int fd, void *ctx)
{
    (void)srv;
    struct session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return;
    s->sink = ctx;
    s->fd = fd;
    s->rd.fd = fd;
    if (reply(s, "220 smtp-sink ESMTP\r\n") == 0) {
        for (;;) {
            ssize_t n = peer_read_line(&s->rd, s->line, sizeof(s->line));
            if (n == -1)
                break;
            if (n == -2) {
                if (reply(s, "500 Line too long\r\n") != 0)
                    break;
                continue;
            }
            if (command(s, s->line) != 0)
                break;
        }
    }
    free(s->from.p);
    free(s->to.p);
    free(s);
}

int smtp_sink_start(int port, const char *dir, struct smtp_sink **out)
{
    struct smtp_sink *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return -ENOMEM;
    k->dir = strdup(dir);
    if (k->dir == NULL) {
        free(k);
        return -ENOMEM;
    }
    int rc = peer_server_start(port, on_conn, k, &k->srv);
    if (rc != 0) {
        free(k->dir);
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int smtp_sink_port(const struct smtp_sink *s)
{
    return peer_server_port(s->srv);
}

unsigned long smtp_sink_count(const struct smtp_sink *s)
{
    return __atomic_load_n(&s->count, __ATOMIC_SEQ_CST);
}

void smtp_sink_stop(struct smtp_sink *s)
{
    if (s == NULL)
        return;
    peer_server_stop(s->srv);
    free(s->dir);
    free(s);
}
