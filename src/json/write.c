/* The JSON writer: appends to a growable buffer in an h2o pool, escaping every string. */
#include "citas/json.h"

#include <stdio.h>
#include <string.h>

void json_buf_init(struct json_buf *b, h2o_mem_pool_t *pool)
{
    memset(b, 0, sizeof(*b));
    b->pool = pool;
}

static void reserve(struct json_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + more)
        cap *= 2;
    char *nb = h2o_mem_alloc_pool(b->pool, cap);
    if (b->len)
        memcpy(nb, b->base, b->len);
    b->base = nb;
    b->cap = cap;
}

static void put(struct json_buf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->base + b->len, s, n);
    b->len += n;
}

static void put_escaped(struct json_buf *b, const char *s, size_t n)
{
    reserve(b, n * 6 + 2);
    char *o = b->base + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            *o++ = '\\';
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        /* <, > and & escaped so that JSON embedded in HTML can never close a script element */
        case '<':
        case '>':
        case '&':
            o += sprintf(o, "\\u%04x", c);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                o += sprintf(o, "\\u%04x", c);
            else
                *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->base);
}

static void member(struct json_buf *b, const char *key)
{
    if (b->need_comma)
        put(b, ",", 1);
    if (key != NULL) {
        put_escaped(b, key, strlen(key));
        put(b, ":", 1);
    }
    b->need_comma = 1;
}

void json_open_object(struct json_buf *b, const char *key)
{
    member(b, key);
    put(b, "{", 1);
    b->need_comma = 0;
}

void json_close_object(struct json_buf *b)
{
    put(b, "}", 1);
    b->need_comma = 1;
}

void json_open_array(struct json_buf *b, const char *key)
{
    member(b, key);
    put(b, "[", 1);
    b->need_comma = 0;
}

void json_close_array(struct json_buf *b)
{
    put(b, "]", 1);
    b->need_comma = 1;
}

void json_add_strn(struct json_buf *b, const char *key, const char *value, size_t len)
{
    member(b, key);
    if (value == NULL)
        put(b, "null", 4);
    else
        put_escaped(b, value, len);
}

void json_add_str(struct json_buf *b, const char *key, const char *value)
{
    json_add_strn(b, key, value, value != NULL ? strlen(value) : 0);
}

void json_add_int(struct json_buf *b, const char *key, long long value)
{
    char tmp[32];
    member(b, key);
    put(b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%lld", value));
}

void json_add_bool(struct json_buf *b, const char *key, int value)
{
    member(b, key);
    if (value)
        put(b, "true", 4);
    else
        put(b, "false", 5);
}

void json_add_null(struct json_buf *b, const char *key)
{
    member(b, key);
    put(b, "null", 4);
}

void json_add_raw(struct json_buf *b, const char *key, const char *json, size_t len)
{
    member(b, key);
    put(b, json, len);
}

char *json_buf_str(struct json_buf *b)
{
    reserve(b, 1);
    b->base[b->len] = '\0';
    return b->base;
}
