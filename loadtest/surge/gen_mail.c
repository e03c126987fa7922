/*
 * Login codes from the SMTP sink's store (loadtest/peers/smtp_sink.h): every message is DIR/NNNNNN.eml,
 * linked into place when complete under a number taken from a counter (so a later number can appear
 * before an earlier one for a moment), starting with "X-Sink-To: <addr>" and carrying the citas header
 * "X-Citas-Kind: login_code" and, in its text part, the code alone on a line ("    123456").
 *
 * Reading is incremental: numbers below `next` are done; each scan tries `next` onwards until a few
 * consecutive numbers are missing, and a number missing for more than GAP_MS while later ones exist is
 * given up. Messages already in the directory at start are skipped. The newest code per recipient is kept
 * on its user; a waiting user gets it at once.
 */
#include "gen.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOKAHEAD 16
#define GAP_MS    3000
#define MAX_NUM   1000000

uint64_t gen_mail_waiting, gen_mail_read;

static uint32_t *table; /* open addressing: user index + 1 */
static size_t tcap;
static uint8_t *done; /* a bit per message number */
static uint32_t next = 1;
static int64_t gap_since = -1;
static char *buf;
static size_t bufcap = 1 << 16;

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        h = (h ^ (uint8_t)c) * 1099511628211ull;
    }
    return h;
}

static int same(const char *a, const char *b, size_t n)
{
    if (strlen(a) != n)
        return 0;
    return strncasecmp(a, b, n) == 0;
}

static struct gen_user *lookup(const char *s, size_t n)
{
    for (size_t i = hash(s, n) & (tcap - 1);; i = (i + 1) & (tcap - 1)) {
        if (table[i] == 0)
            return NULL;
        struct gen_user *u = &gen_users[table[i] - 1];
        if (same(u->email, s, n))
            return u;
    }
}

int gen_mail_init(void)
{
    tcap = 1024;
    while (tcap < (size_t)gen_o.users * 2)
        tcap *= 2;
    table = calloc(tcap, sizeof(*table));
    done = calloc(MAX_NUM / 8 + 1, 1);
    buf = malloc(bufcap);
    if (table == NULL || done == NULL || buf == NULL)
        return -1;
    for (uint32_t k = 0; k < gen_o.users; k++) {
        const char *e = gen_users[k].email;
        size_t i = hash(e, strlen(e)) & (tcap - 1);
        while (table[i] != 0)
            i = (i + 1) & (tcap - 1);
        table[i] = k + 1;
    }
    DIR *d = opendir(gen_o.smtp_dir);
    if (d == NULL)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long n;
        char tail[8];
        if (sscanf(de->d_name, "%6lu.%7s", &n, tail) == 2 && strcmp(tail, "eml") == 0 && n < MAX_NUM &&
            n + 1 > next)
            next = (uint32_t)n + 1;
    }
    closedir(d);
    for (uint32_t n = 0; n < next; n++)
        done[n / 8] |= (uint8_t)(1u << (n % 8));
    return 0;
}

/* The value of header `name` (up to its line end) in the message's header block, or NULL. */
static const char *header(const char *msg, size_t hlen, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    for (const char *p = msg; p < msg + hlen;) {
        const char *e = memchr(p, '\n', (size_t)(msg + hlen - p));
        if (e == NULL)
            e = msg + hlen;
        if ((size_t)(e - p) > nl && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl;
            while (v < e && *v == ' ')
                v++;
            const char *ve = e;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = e + 1;
    }
    return NULL;
}

/* The first line made of blanks and exactly six digits after the header block. */
static int find_code(const char *body, size_t n, char out[8])
{
    for (const char *p = body; p < body + n;) {
        const char *e = memchr(p, '\n', (size_t)(body + n - p));
        if (e == NULL)
            e = body + n;
        const char *q = p;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        const char *d = q;
        while (q < e && *q >= '0' && *q <= '9')
            q++;
        const char *de = q;
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (d > p && de - d == 6 && q == e) {
            memcpy(out, d, 6);
            out[6] = '\0';
            return 0;
        }
        p = e + 1;
    }
    return -1;
}

/* 1: read (or unreadable for good), 0: not there yet. */
static int read_one(uint32_t num)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%06u.eml", gen_o.smtp_dir, num);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : 1;
    size_t len = 0;
    for (;;) {
        if (len + 1 >= bufcap) {
            char *nb = realloc(buf, bufcap * 2);
            if (nb == NULL)
                break;
            buf = nb;
            bufcap *= 2;
        }
        ssize_t k = read(fd, buf + len, bufcap - 1 - len);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    gen_mail_read++;
    const char *hend = strstr(buf, "\r\n\r\n");
    size_t hlen = hend != NULL ? (size_t)(hend - buf) : len;
    size_t kl = 0, tl = 0;
    const char *kind = header(buf, hlen, "X-Citas-Kind:", &kl);
    const char *to = header(buf, hlen, "X-Sink-To:", &tl);
    if (kind == NULL || to == NULL || kl != 10 || memcmp(kind, "login_code", 10) != 0)
        return 1;
    char code[8];
    if (find_code(buf + hlen, len - hlen, code) != 0)
        return 1;
    /* "<a@b>, <c@d>" */
    for (const char *p = to; p < to + tl;) {
        const char *lt = memchr(p, '<', (size_t)(to + tl - p));
        if (lt == NULL)
            break;
        const char *gt = memchr(lt, '>', (size_t)(to + tl - lt));
        if (gt == NULL)
            break;
        struct gen_user *u = lookup(lt + 1, (size_t)(gt - lt - 1));
        if (u != NULL) {
            u->mails++;
            if (num > u->code_file) {
                memcpy(u->code, code, 7);
                u->code_file = num;
            }
            if (u->state == S_CODE_WAIT)
                gen_user_code_ready(u);
        }
        p = gt + 1;
    }
    return 1;
}

static int is_done(uint32_t n)
{
    return (done[n / 8] >> (n % 8)) & 1u;
}

void gen_mail_scan(void)
{
    uint32_t misses = 0;
    for (uint32_t n = next; n < MAX_NUM && misses < LOOKAHEAD; n++) {
        if (is_done(n))
            continue;
        if (read_one(n)) {
            done[n / 8] |= (uint8_t)(1u << (n % 8));
            misses = 0;
        } else {
            misses++;
        }
    }
    while (next < MAX_NUM && is_done(next))
        next++;
    int64_t now = gen_now_ms();
    int later_exists = 0;
    for (uint32_t n = next + 1; n < MAX_NUM && n <= next + LOOKAHEAD; n++)
        later_exists |= is_done(n);
    if (!later_exists) {
        gap_since = -1;
        return;
    }
    /* next is missing while a later message exists: wait GAP_MS, then skip it */
    if (gap_since < 0)
        gap_since = now;
    else if (now - gap_since > GAP_MS) {
        done[next / 8] |= (uint8_t)(1u << (next % 8));
        while (next < MAX_NUM && is_done(next))
            next++;
        gap_since = -1;
    }
}

void gen_mail_wait(struct gen_user *u)
{
    u->state = S_CODE_WAIT;
    gen_mail_waiting++;
}

void gen_mail_unwait(struct gen_user *u)
{
    if (u->state == S_CODE_WAIT && gen_mail_waiting > 0)
        gen_mail_waiting--;
}
