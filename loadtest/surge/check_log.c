/* surge-check: reading the answer log and the accounts file; latency histograms. */
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const check_route_names[ROUTE_N] = {"login", "login_code", "availability",
                                                "book",  "captcha",    "other"};
const char *const check_class_names[CLASS_N] = {"2xx", "409", "429", "4xx", "5xx", "failed", "other"};

static unsigned bucket_of(uint32_t v)
{
    if (v < 256)
        return v;
    unsigned e = 31u - (unsigned)__builtin_clz(v); /* 8..31 */
    return 256 + (e - 8) * 128 + ((v >> (e - 7)) & 127);
}

/* The middle of bucket i, in microseconds. */
static double bucket_value(unsigned i)
{
    if (i < 256)
        return i;
    unsigned e = (i - 256) / 128 + 8, m = (i - 256) % 128;
    double lo = (double)(1ull << e) + (double)m * (double)(1ull << (e - 7));
    return lo + (double)(1ull << (e - 7)) / 2.0;
}

void hist_add(struct hist *h, uint32_t us)
{
    h->b[bucket_of(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

double hist_quantile(const struct hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > want) {
            double v = bucket_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

static int route_of(const char *s)
{
    for (int i = 0; i < ROUTE_N; i++)
        if (strcmp(s, check_route_names[i]) == 0)
            return i;
    return -1;
}

static int class_of(int status)
{
    if (status == 0)
        return CLASS_FAIL;
    if (status >= 200 && status < 300)
        return CLASS_2XX;
    if (status == 409)
        return CLASS_409;
    if (status == 429)
        return CLASS_429;
    if (status >= 400 && status < 500)
        return CLASS_4XX;
    if (status >= 500 && status < 600)
        return CLASS_5XX;
    return CLASS_OTHER;
}

/* The second of t_ms, growing a->seconds to cover it; NULL when out of memory. */
static struct second *second_at(struct answers *a, int64_t t_ms)
{
    int64_t s = t_ms >= 0 ? t_ms / 1000 : -((-t_ms + 999) / 1000);
    if (a->nsec == 0) {
        a->seconds = calloc(64, sizeof(*a->seconds));
        if (a->seconds == NULL)
            return NULL;
        a->sec0 = s;
        a->nsec = 64;
    }
    if (s < a->sec0) {
        size_t add = (size_t)(a->sec0 - s) + 64;
        struct second *n = calloc(a->nsec + add, sizeof(*n));
        if (n == NULL)
            return NULL;
        memcpy(n + add, a->seconds, a->nsec * sizeof(*n));
        free(a->seconds);
        a->seconds = n;
        a->nsec += add;
        a->sec0 -= (int64_t)add;
    } else if (s >= a->sec0 + (int64_t)a->nsec) {
        size_t want = (size_t)(s - a->sec0) + 64;
        struct second *n = realloc(a->seconds, want * sizeof(*n));
        if (n == NULL)
            return NULL;
        memset(n + a->nsec, 0, (want - a->nsec) * sizeof(*n));
        a->seconds = n;
        a->nsec = want;
    }
    return &a->seconds[s - a->sec0];
}

static int add_win(struct answers *a, int64_t t, uint32_t user, int64_t slot, const char *code)
{
    if (a->nwins == a->capwins) {
        size_t cap = a->capwins ? a->capwins * 2 : 1024;
        struct win *n = realloc(a->wins, cap * sizeof(*n));
        if (n == NULL)
            return -1;
        a->wins = n;
        a->capwins = cap;
    }
    struct win *w = &a->wins[a->nwins++];
    w->t_ms = t;
    w->user = user;
    w->slot = slot;
    snprintf(w->code, sizeof(w->code), "%s", code);
    return 0;
}

/* Splits line (modified in place) at tabs into f[0..max); returns the field count. */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        char *t = strchr(p, '\t');
        if (t == NULL)
            break;
        *t = '\0';
        p = t + 1;
    }
    return n;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_line(struct answers *a, char *line)
{
    char *f[10];
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    if (len == 0)
        return 0;
    int nf = split_tabs(line, f, 10);
    if (nf != 9 && nf != 10)
        return -1;
    int64_t t, user, bot, status, lat, slot = 0, queue = -1;
    if (nf == 10 && (parse_i64(f[9], &queue) != 0 || queue < 0))
        return -1;
    if (queue > UINT32_MAX)
        queue = UINT32_MAX;
    int route = route_of(f[3]);
    if (parse_i64(f[0], &t) != 0 || parse_i64(f[1], &user) != 0 || parse_i64(f[2], &bot) != 0 || route < 0 ||
        parse_i64(f[4], &status) != 0 || parse_i64(f[5], &lat) != 0 || user < 0 ||
        (uint64_t)user >= a->nusers || (bot != 0 && bot != 1) || status < 0 || status >= 600 || lat < 0)
        return -1;
    if (strcmp(f[6], "-") != 0 && parse_i64(f[6], &slot) != 0)
        return -1;
    if (lat > UINT32_MAX)
        lat = UINT32_MAX;

    a->lines++;
    if (a->lines == 1 || t < a->t_min)
        a->t_min = t;
    if (a->lines == 1 || t > a->t_max)
        a->t_max = t;
    hist_add(&a->route[route], (uint32_t)lat);
    if (queue >= 0) {
        hist_add(&a->queue[route], (uint32_t)queue);
        a->lines_with_queue++;
    }
    a->by_status[status]++;
    a->route_status[route][status]++;
    if (status == 0) {
        const char *n = f[8];
        a->notes_fail[strcmp(n, "timeout") == 0   ? 0
                      : strcmp(n, "reset") == 0   ? 1
                      : strcmp(n, "refused") == 0 ? 2
                                                  : 3]++;
    }
    struct second *s = second_at(a, t);
    if (s == NULL)
        return -2;
    s->by_route[route]++;
    s->by_class[class_of((int)status)]++;
    struct hist **hp = route == ROUTE_AVAILABILITY ? &s->avail : route == ROUTE_BOOK ? &s->book : NULL;
    if (hp != NULL) {
        if (*hp == NULL && (*hp = calloc(1, sizeof(struct hist))) == NULL)
            return -2;
        hist_add(*hp, (uint32_t)lat);
    }

    struct user_log *u = &a->users[user];
    if (u->seen && u->bot != bot)
        return -1; /* a user is a bot or not for the whole run */
    u->seen = 1;
    u->bot = (uint8_t)bot;
    if (route == ROUTE_BOOK) {
        if (u->book_tries == 0 || t < u->first_book_ms)
            u->first_book_ms = t;
        u->book_tries++;
        if (status == 0 || status == 503)
            u->book_uncertain = 1;
        if (strcmp(f[8], "captcha") == 0)
            u->captcha_refused = 1;
        if (status == 201) {
            if (strcmp(f[6], "-") == 0 || strlen(f[7]) < 1 || strlen(f[7]) > 15 || strcmp(f[7], "-") == 0)
                return -1;
            s->booked++;
            u->wins++;
            if (add_win(a, t, (uint32_t)user, slot, f[7]) != 0)
                return -2;
        }
    }
    return 0;
}

int check_log_read(const char *path, struct answers *a, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    a->users = calloc(a->nusers ? a->nusers : 1, sizeof(*a->users));
    if (a->users == NULL) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    uint64_t no = 0;
    int rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        no++;
        int r = parse_line(a, line);
        if (r == -2) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        if (r != 0 && a->bad_lines++ < 5)
            fprintf(stderr, "surge-check: %s:%llu: malformed line\n", path, (unsigned long long)no);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

void check_log_free(struct answers *a)
{
    for (size_t i = 0; i < a->nsec; i++) {
        free(a->seconds[i].avail);
        free(a->seconds[i].book);
    }
    free(a->seconds);
    free(a->wins);
    free(a->users);
    memset(a, 0, sizeof(*a));
}

int check_accounts_read(const char *path, struct account **out, uint32_t *n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct account *acc = NULL;
    size_t cnt = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    int rc = 0;
    while (getline(&line, &lcap, f) >= 0) {
        char *fl[4];
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (split_tabs(line, fl, 4) != 3) {
            snprintf(err, errlen, "%s:%zu: expected email<TAB>password<TAB>document", path, cnt + 1);
            rc = -1;
            break;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 4096;
            struct account *na = realloc(acc, cap * sizeof(*na));
            if (na == NULL) {
                rc = -1;
                snprintf(err, errlen, "out of memory");
                break;
            }
            acc = na;
        }
        acc[cnt].email = strdup(fl[0]);
        acc[cnt].document = strdup(fl[2]);
        acc[cnt].id = 0;
        if (acc[cnt].email == NULL || acc[cnt].document == NULL) {
            rc = -1;
            snprintf(err, errlen, "out of memory");
            break;
        }
        cnt++;
    }
    free(line);
    fclose(f);
    if (rc == 0 && cnt > UINT32_MAX) {
        snprintf(err, errlen, "too many accounts");
        rc = -1;
    }
    *out = acc;
    *n = (uint32_t)cnt;
    return rc;
}
