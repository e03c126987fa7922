/*
 * The few JSON lookups surge-gen needs, on a cursor over the raw body: a top-level string member, the
 * slots of an availability answer's first days, the "next" suggestions of a sold-out 409. Malformed input
 * just ends the lookup (the answer is then treated as not having the member).
 */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

struct cur {
    const char *p, *end;
};

static void ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static int eat(struct cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A string at the cursor: its raw content [*s, *s + *n) without quotes (escapes left as they are). */
static int str(struct cur *c, const char **s, size_t *n)
{
    ws(c);
    if (c->p >= c->end || *c->p != '"')
        return -1;
    const char *b = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\')
            c->p++;
        c->p++;
    }
    if (c->p >= c->end)
        return -1;
    *s = b;
    *n = (size_t)(c->p - b);
    c->p++;
    return 0;
}

/* Skips one value of any type. */
static int skip(struct cur *c)
{
    ws(c);
    if (c->p >= c->end)
        return -1;
    char ch = *c->p;
    if (ch == '"') {
        const char *s;
        size_t n;
        return str(c, &s, &n);
    }
    if (ch == '{' || ch == '[') {
        int depth = 0;
        while (c->p < c->end) {
            char k = *c->p;
            if (k == '"') {
                const char *s;
                size_t n;
                if (str(c, &s, &n) != 0)
                    return -1;
                continue;
            }
            if (k == '{' || k == '[')
                depth++;
            else if (k == '}' || k == ']') {
                if (--depth == 0) {
                    c->p++;
                    return 0;
                }
            }
            c->p++;
        }
        return -1;
    }
    while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ']' && *c->p != ' ')
        c->p++;
    return 0;
}

static int integer(struct cur *c, int64_t *v)
{
    ws(c);
    int neg = 0;
    if (c->p < c->end && *c->p == '-') {
        neg = 1;
        c->p++;
    }
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return -1;
    int64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && x < INT64_MAX / 10 - 10)
        x = x * 10 + (*c->p++ - '0');
    *v = neg ? -x : x;
    return 0;
}

/*
 * Member iteration: call with *first = 1 right after the object's '{'. Returns 1 with the key (the cursor
 * then at the value), 0 at the closing '}', -1 on malformed input.
 */
static int member(struct cur *c, int *first, const char **k, size_t *kn)
{
    if (eat(c, '}'))
        return 0;
    if (!*first && !eat(c, ','))
        return -1;
    *first = 0;
    if (str(c, k, kn) != 0 || !eat(c, ':'))
        return -1;
    return 1;
}

static int key_is(const char *k, size_t kn, const char *want)
{
    return kn == strlen(want) && memcmp(k, want, kn) == 0;
}

/* Moves the cursor to the value of top-level member `key`. */
static int find_top(struct cur *c, const char *key)
{
    if (!eat(c, '{'))
        return -1;
    int first = 1, r;
    const char *k;
    size_t kn;
    while ((r = member(c, &first, &k, &kn)) == 1) {
        if (key_is(k, kn, key))
            return 0;
        if (skip(c) != 0)
            return -1;
    }
    return -1;
}

int gen_json_str(const char *body, size_t len, const char *key, char *out, size_t cap)
{
    struct cur c = {body, body + len};
    const char *s;
    size_t n;
    if (find_top(&c, key) != 0 || str(&c, &s, &n) != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\\') {
            if (++i >= n)
                return -1;
            ch = s[i];
            if (ch != '"' && ch != '\\' && ch != '/')
                return -1; /* none of the values we read carries other escapes */
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

/* One slot object: 1 if it can be booked now or at release (free > 0, or opens_at present), with *id. */
static int slot_obj(struct cur *c, int64_t *id)
{
    if (!eat(c, '{'))
        return -1;
    int first = 1, r, have_id = 0, ok = 0;
    const char *k;
    size_t kn;
    while ((r = member(c, &first, &k, &kn)) == 1) {
        int64_t v;
        if (key_is(k, kn, "id")) {
            if (integer(c, &v) != 0)
                return -1;
            *id = v;
            have_id = 1;
        } else if (key_is(k, kn, "free")) {
            if (integer(c, &v) != 0)
                return -1;
            if (v > 0)
                ok = 1;
        } else {
            if (key_is(k, kn, "opens_at"))
                ok = 1;
            if (skip(c) != 0)
                return -1;
        }
    }
    return r < 0 ? -1 : have_id && ok;
}

/* Every eligible slot id of the first `days` days, in order, into a growing array (*ids, *n, *cap). */
static void avail_parse(const char *body, size_t len, int days, int64_t **ids, int *n, int *cap)
{
    struct cur c = {body, body + len};
    if (find_top(&c, "days") != 0 || !eat(&c, '['))
        return;
    for (int d = 0; d < days; d++) {
        if (eat(&c, ']'))
            break;
        if (d > 0 && !eat(&c, ','))
            break;
        if (!eat(&c, '{'))
            break;
        int first = 1, r;
        const char *k;
        size_t kn;
        while ((r = member(&c, &first, &k, &kn)) == 1) {
            if (!key_is(k, kn, "slots")) {
                if (skip(&c) != 0)
                    return;
                continue;
            }
            if (!eat(&c, '['))
                return;
            int m = 0;
            while (!eat(&c, ']')) {
                if (m++ > 0 && !eat(&c, ','))
                    return;
                int64_t id = 0;
                int ok = slot_obj(&c, &id);
                if (ok < 0)
                    return;
                if (ok) {
                    if (*n == *cap) {
                        int64_t *more = realloc(*ids, sizeof(**ids) * (size_t)(*cap ? *cap * 2 : 64));
                        if (more == NULL)
                            return;
                        *ids = more;
                        *cap = *cap ? *cap * 2 : 64;
                    }
                    (*ids)[(*n)++] = id;
                }
            }
        }
        if (r < 0)
            break;
    }
}

/*
 * Parsed availability answers, remembered by their bytes: every user polling within one cache period of
 * the server gets the same answer, and parsing ~28 KB of JSON per poll was a tenth of the generator's time
 * at the release, when the machine has none to spare. AVAIL_MEMO entries, the oldest replaced.
 */
#define AVAIL_MEMO 8
static struct avail_memo {
    char *body;
    size_t len;
    int days;
    int64_t *ids;
    int n, cap;
} avail_memo[AVAIL_MEMO];
static unsigned avail_memo_next;

static const struct avail_memo *avail_lookup(const char *body, size_t len, int days)
{
    for (int i = 0; i < AVAIL_MEMO; i++) {
        const struct avail_memo *m = &avail_memo[i];
        if (m->body != NULL && m->len == len && m->days == days && memcmp(m->body, body, len) == 0)
            return m;
    }
    struct avail_memo *m = &avail_memo[avail_memo_next++ % AVAIL_MEMO];
    free(m->body);
    free(m->ids);
    *m = (struct avail_memo){.days = days};
    if ((m->body = malloc(len + 1)) == NULL)
        return NULL;
    memcpy(m->body, body, len);
    m->len = len;
    avail_parse(body, len, days, &m->ids, &m->n, &m->cap);
    return m;
}

int gen_json_avail(const char *body, size_t len, int days, int64_t *ids, int cap)
{
    const struct avail_memo *m = avail_lookup(body, len, days);
    if (m == NULL) { /* out of memory: parse this one alone */
        static int64_t *one;
        static int one_cap;
        int n = 0;
        avail_parse(body, len, days, &one, &n, &one_cap);
        return gen_json_sample(one, n, ids, cap);
    }
    return gen_json_sample(m->ids, m->n, ids, cap);
}

int gen_json_sample(const int64_t *all, int n, int64_t *ids, int cap)
{
    /* reservoir sampling: each eligible slot equally likely to be kept */
    for (int seen = 0; seen < n; seen++) {
        if (seen < cap) {
            ids[seen] = all[seen];
        } else {
            int64_t j = gen_rand_range(0, seen);
            if (j < cap)
                ids[j] = all[seen];
        }
    }
    return n;
}

int gen_json_next(const char *body, size_t len, int64_t *ids, int cap)
{
    struct cur c = {body, body + len};
    if (find_top(&c, "next") != 0 || !eat(&c, '['))
        return 0;
    int n = 0, i = 0;
    while (!eat(&c, ']')) {
        if (i++ > 0 && !eat(&c, ','))
            break;
        if (!eat(&c, '{'))
            break;
        int first = 1, r;
        const char *k;
        size_t kn;
        while ((r = member(&c, &first, &k, &kn)) == 1) {
            int64_t v;
            if (key_is(k, kn, "slot") && integer(&c, &v) == 0) {
                if (n < cap)
                    ids[n++] = v;
            } else if (skip(&c) != 0) {
                return n;
            }
        }
        if (r < 0)
            break;
    }
    return n;
}
