/* HTML text: the one escaping function, a growing buffer in the request's pool, URL encoding, folding. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

size_t web_escape(char *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    char *o = out;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        const char *ent = NULL;
        switch (c) {
        case '&':
            ent = "&amp;";
            break;
        case '<':
            ent = "&lt;";
            break;
        case '>':
            ent = "&gt;";
            break;
        case '"':
            ent = "&quot;";
            break;
        case '\'':
            ent = "&#39;";
            break;
        default:
            break;
        }
        if (ent != NULL) {
            size_t n = strlen(ent);
            memcpy(o, ent, n);
            o += n;
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F) {
            if (c == '\n' || c == '\t')
                *o++ = (char)c;
            i++;
            continue;
        }
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0) { /* not UTF-8: dropped */
            i++;
            continue;
        }
        memcpy(o, p + i, n);
        o += n;
        i += n;
    }
    return (size_t)(o - out);
}

void wb_init(struct wbuf *b, h2o_mem_pool_t *pool, size_t cap)
{
    b->pool = pool;
    b->cap = cap > 0 ? cap : 1024;
    b->p = h2o_mem_alloc_pool(pool, b->cap);
    b->len = 0;
    b->p[0] = '\0';
}

static void reserve(struct wbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap * 2;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *np = h2o_mem_alloc_pool(b->pool, cap);
    memcpy(np, b->p, b->len + 1);
    b->p = np;
    b->cap = cap;
}

void wb_rawn(struct wbuf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void wb_raw(struct wbuf *b, const char *s)
{
    wb_rawn(b, s, strlen(s));
}

void wb_fmt(struct wbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void wb_escn(struct wbuf *b, const char *s, size_t n)
{
    if (s == NULL)
        return;
    reserve(b, 6 * n);
    b->len += web_escape(b->p + b->len, s, n);
    b->p[b->len] = '\0';
}

void wb_esc(struct wbuf *b, const char *s)
{
    if (s != NULL)
        wb_escn(b, s, strlen(s));
}

void wb_url(struct wbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s == NULL)
        return;
    size_t n = strlen(s);
    reserve(b, 3 * n);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.' || *p == '~' || *p == '/') {
            b->p[b->len++] = (char)*p;
        } else {
            b->p[b->len++] = '%';
            b->p[b->len++] = hex[*p >> 4];
            b->p[b->len++] = hex[*p & 15];
        }
    }
    b->p[b->len] = '\0';
}

void web_doc_list(struct wbuf *b, const char *lines)
{
    wb_raw(b, "<ul class=\"docs\">");
    const char *s = lines;
    while (s != NULL && *s != '\0') {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        if (n > 0) {
            wb_raw(b, "<li>");
            wb_escn(b, s, n);
            wb_raw(b, "</li>");
        }
        s = nl != NULL ? nl + 1 : NULL;
    }
    wb_raw(b, "</ul>");
}

/* Latin-1 supplement letters (U+00C0..U+00FF) without their accents. */
static const char fold_c3[64] = "aaaaaaaceeeeiiii"
                                "dnooooo*ouuuuyts"
                                "aaaaaaaceeeeiiii"
                                "dnooooo/ouuuuyty";

char *web_fold(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    char *out = h2o_mem_alloc_pool(pool, len + 1);
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == 0xC3 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0xBF) {
            out[o++] = fold_c3[p[i + 1] - 0x80];
            i++;
        } else if (p[i] >= 'A' && p[i] <= 'Z') {
            out[o++] = (char)(p[i] - 'A' + 'a');
        } else {
            out[o++] = (char)p[i];
        }
    }
    out[o] = '\0';
    return out;
}
