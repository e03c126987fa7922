/* The strict JSON reader: recursive descent over a bounded depth, into a tree in an h2o pool. */
#include "citas/json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    h2o_mem_pool_t *pool;
    const char *p, *start, *end;
    const char *err;
    int depth;
};

static void *fail(struct parser *ps, const char *why)
{
    if (ps->err == NULL)
        ps->err = why;
    return NULL;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 if it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            return 0;
        if (*p == 0x7f)
            return 0;
        size_t n = utf8_len(p, (size_t)(end - p));
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string starting at the opening quote; the decoded text is never longer than the source. */
static const char *parse_string(struct parser *ps, size_t *out_len)
{
    const char *p = ++ps->p;
    size_t cap = 0;
    while (p < ps->end && *p != '"') {
        if (*p == '\\')
            p++;
        p++;
    }
    if (p >= ps->end)
        return fail(ps, "unterminated string");
    cap = (size_t)(p - ps->p) + 1;
    char *out = h2o_mem_alloc_pool(ps->pool, cap), *o = out;
    p = ps->p;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20)
            return fail(ps, "control character in string");
        if (c == '\\') {
            p++;
            switch (*p) {
            case '"':
                *o++ = '"';
                p++;
                break;
            case '\\':
                *o++ = '\\';
                p++;
                break;
            case '/':
                *o++ = '/';
                p++;
                break;
            case 'b':
                *o++ = '\b';
                p++;
                break;
            case 'f':
                *o++ = '\f';
                p++;
                break;
            case 'n':
                *o++ = '\n';
                p++;
                break;
            case 'r':
                *o++ = '\r';
                p++;
                break;
            case 't':
                *o++ = '\t';
                p++;
                break;
            case 'u': {
                uint32_t cp;
                if (ps->end - p < 5 || hex4(p + 1, &cp) != 0)
                    return fail(ps, "bad \\u escape");
                p += 5;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (ps->end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) != 0 ||
                        lo < 0xdc00 || lo > 0xdfff)
                        return fail(ps, "lone surrogate in string");
                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return fail(ps, "lone surrogate in string");
                }
                if (cp == 0)
                    return fail(ps, "NUL character in string");
                o += put_utf8(o, cp);
                break;
            }
            default:
                return fail(ps, "bad escape in string");
            }
            continue;
        }
        size_t n = utf8_len((const unsigned char *)p, (size_t)(ps->end - p));
        if (n == 0)
            return fail(ps, "invalid UTF-8 in string");
        memcpy(o, p, n);
        o += n;
        p += n;
    }
    *o = '\0';
    ps->p = p + 1;
    *out_len = (size_t)(o - out);
    return out;
}

static struct json_value *parse_value(struct parser *ps);

static struct json_value *new_value(struct parser *ps, enum json_type t)
{
    struct json_value *v = h2o_mem_alloc_pool(ps->pool, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->type = t;
    return v;
}

/* Members are collected in a small growable array, copied into the pool when the container closes. */
struct members {
    const char **keys;
    struct json_value **items;
    size_t n, cap;
};

static int push(struct parser *ps, struct members *m, const char *key, struct json_value *v)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        const char **k = h2o_mem_alloc_pool(ps->pool, cap * sizeof(*k));
        struct json_value **it = h2o_mem_alloc_pool(ps->pool, cap * sizeof(*it));
        if (m->n) {
            memcpy(k, m->keys, m->n * sizeof(*k));
            memcpy(it, m->items, m->n * sizeof(*it));
        }
        m->keys = k;
        m->items = it;
        m->cap = cap;
    }
    m->keys[m->n] = key;
    m->items[m->n++] = v;
    return 0;
}

static struct json_value *parse_container(struct parser *ps, int object)
{
    if (++ps->depth > JSON_MAX_DEPTH)
        return fail(ps, "nesting too deep");
    char close = object ? '}' : ']';
    struct json_value *v = new_value(ps, object ? JSON_OBJECT : JSON_ARRAY);
    struct members m = {0};
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return v;
    }
    for (;;) {
        const char *key = NULL;
        skip_ws(ps);
        if (object) {
            size_t klen;
            if (ps->p >= ps->end || *ps->p != '"')
                return fail(ps, "expected a key");
            if ((key = parse_string(ps, &klen)) == NULL)
                return NULL;
            for (size_t i = 0; i < m.n; i++)
                if (strcmp(m.keys[i], key) == 0)
                    return fail(ps, "duplicate key");
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return fail(ps, "expected ':'");
            ps->p++;
        }
        struct json_value *item = parse_value(ps);
        if (item == NULL)
            return NULL;
        push(ps, &m, key, item);
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            break;
        }
        return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    v->keys = object ? m.keys : NULL;
    v->items = m.items;
    v->len = m.n;
    ps->depth--;
    return v;
}

static struct json_value *parse_number(struct parser *ps)
{
    const char *p = ps->p;
    if (p < ps->end && *p == '-')
        p++;
    if (p >= ps->end || *p < '0' || *p > '9')
        return fail(ps, "bad number");
    if (*p == '0' && p + 1 < ps->end && p[1] >= '0' && p[1] <= '9')
        return fail(ps, "bad number");
    while (p < ps->end &&
           ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-'))
        p++;
    size_t n = (size_t)(p - ps->p);
    if (n > 64)
        return fail(ps, "number too long");
    char tmp[65];
    memcpy(tmp, ps->p, n);
    tmp[n] = '\0';
    char *endp;
    double d = strtod(tmp, &endp);
    if (endp != tmp + n || !isfinite(d))
        return fail(ps, "bad number");
    struct json_value *v = new_value(ps, JSON_NUMBER);
    v->number = d;
    ps->p = p;
    return v;
}

static int literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return 0;
    ps->p += n;
    return 1;
}

static struct json_value *parse_value(struct parser *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end of input");
    switch (*ps->p) {
    case '{':
        return parse_container(ps, 1);
    case '[':
        return parse_container(ps, 0);
    case '"': {
        size_t len;
        const char *s = parse_string(ps, &len);
        if (s == NULL)
            return NULL;
        struct json_value *v = new_value(ps, JSON_STRING);
        v->str = s;
        v->len = len;
        return v;
    }
    case 't':
        return literal(ps, "true") ? new_value(ps, JSON_TRUE) : fail(ps, "unexpected token");
    case 'f':
        return literal(ps, "false") ? new_value(ps, JSON_FALSE) : fail(ps, "unexpected token");
    case 'n':
        return literal(ps, "null") ? new_value(ps, JSON_NULL) : fail(ps, "unexpected token");
    default:
        return parse_number(ps);
    }
}

struct json_value *json_parse(h2o_mem_pool_t *pool, const char *buf, size_t len, const char **err,
                              size_t *err_at)
{
    struct parser ps = {.pool = pool, .p = buf, .start = buf, .end = buf + len};
    struct json_value *v = buf != NULL ? parse_value(&ps) : fail(&ps, "empty body");
    if (v != NULL) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            v = fail(&ps, "trailing characters after the document");
    }
    if (v == NULL) {
        if (err != NULL)
            *err = ps.err;
        if (err_at != NULL)
            *err_at = (size_t)(ps.p - ps.start);
    }
    return v;
}

const struct json_value *json_get(const struct json_value *v, const char *key)
{
    if (v == NULL || v->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

const char *json_get_str(const struct json_value *v, const char *key, size_t *len)
{
    const struct json_value *m = json_get(v, key);
    if (m == NULL || m->type != JSON_STRING)
        return NULL;
    if (len != NULL)
        *len = m->len;
    return m->str;
}
