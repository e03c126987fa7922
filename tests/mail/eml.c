/* See eml.h. Written for the messages the tests expect; anything unexpected makes a lookup fail. */
#include "eml.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexv(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

unsigned char *eml_decode_qp(const char *s, size_t len, size_t *out_len)
{
    unsigned char *o = malloc(len + 1);
    size_t n = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=' && i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
            i += 2; /* soft line break */
        } else if (s[i] == '=' && i + 2 < len && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            o[n++] = (unsigned char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
            i += 2;
        } else if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') {
            o[n++] = '\n'; /* hard line break: back to LF, as the templates are written */
            i++;
        } else {
            o[n++] = (unsigned char)s[i];
        }
    }
    o[n] = '\0';
    *out_len = n;
    return o;
}

unsigned char *eml_decode_b64(const char *s, size_t len, size_t *out_len)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char *o = malloc(len + 1);
    size_t n = 0;
    unsigned v = 0;
    int bits = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        const char *p = s[i] ? strchr(a, s[i]) : NULL;
        if (p == NULL)
            continue; /* CRLF and padding */
        v = v << 6 | (unsigned)(p - a);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (unsigned char)(v >> bits);
        }
    }
    o[n] = '\0';
    *out_len = n;
    return o;
}

/* Decodes RFC 2047 encoded words in s (whitespace between adjacent words dropped) into out. */
static void decode_words(const char *s, char *out, size_t n)
{
    size_t o = 0;
    const char *p = s;
    int last_was_word = 0;
    while (*p && o + 1 < n) {
        if (strncasecmp(p, "=?UTF-8?", 8) == 0 &&
            (p[8] == 'B' || p[8] == 'b' || p[8] == 'Q' || p[8] == 'q') && p[9] == '?') {
            const char *start = p + 10, *end = strstr(start, "?=");
            if (end == NULL)
                break;
            size_t dl;
            unsigned char *d;
            if (p[8] == 'B' || p[8] == 'b') {
                d = eml_decode_b64(start, (size_t)(end - start), &dl);
            } else {
                char *tmp = strndup(start, (size_t)(end - start));
                for (char *t = tmp; t && *t; t++)
                    if (*t == '_')
                        *t = ' ';
                d = tmp ? eml_decode_qp(tmp, strlen(tmp), &dl) : NULL;
                free(tmp);
            }
            for (size_t i = 0; d && i < dl && o + 1 < n; i++)
                out[o++] = (char)d[i];
            free(d);
            p = end + 2;
            last_was_word = 1;
            continue;
        }
        if (last_was_word && (*p == ' ' || *p == '\t')) {
            const char *q = p;
            while (*q == ' ' || *q == '\t')
                q++;
            if (strncasecmp(q, "=?", 2) == 0) {
                p = q;
                continue;
            }
        }
        last_was_word = 0;
        out[o++] = *p++;
    }
    out[o] = '\0';
}

/* Finds header `name` in the header block [h, end) and writes its unfolded value. */
static int find_header(const char *h, const char *end, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    const char *line = h;
    while (line < end) {
        const char *eol = strstr(line, "\r\n");
        if (eol == NULL || eol > end)
            eol = end;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            size_t o = 0;
            for (;;) {
                while (v < eol && (*v == ' ' || *v == '\t') && o == 0)
                    v++;
                while (v < eol && o + 1 < n)
                    out[o++] = *v++;
                if (eol + 2 < end && (eol[2] == ' ' || eol[2] == '\t')) { /* folded */
                    v = eol + 2;
                    eol = strstr(v, "\r\n");
                    if (eol == NULL || eol > end)
                        eol = end;
                    continue;
                }
                break;
            }
            out[o] = '\0';
            return 0;
        }
        line = eol + 2;
    }
    return -1;
}

/* The boundary parameter of a Content-Type value, into out. */
static int boundary_of(const char *ct, char *out, size_t n)
{
    const char *b = strcasestr(ct, "boundary=");
    if (b == NULL)
        return -1;
    b += 9;
    int quoted = *b == '"';
    if (quoted)
        b++;
    size_t o = 0;
    while (*b && o + 1 < n && (quoted ? *b != '"' : (*b != ';' && *b != ' ')))
        out[o++] = *b++;
    out[o] = '\0';
    return o ? 0 : -1;
}

/* Parses the entity [p, end): headers, blank line, body; recurses into multiparts. */
static int parse_entity(struct eml *m, const char *p, const char *end, int depth)
{
    const char *sep = strstr(p, "\r\n\r\n");
    if (sep == NULL || sep > end || depth > 3)
        return -1;
    char ct[512], enc[64], disp[256];
    if (find_header(p, sep + 2, "Content-Type", ct, sizeof(ct)) != 0)
        snprintf(ct, sizeof(ct), "text/plain");
    find_header(p, sep + 2, "Content-Transfer-Encoding", enc, sizeof(enc));
    find_header(p, sep + 2, "Content-Disposition", disp, sizeof(disp));
    const char *body = sep + 4;
    if (strncasecmp(ct, "multipart/", 10) == 0) {
        char b[128], delim[140];
        if (boundary_of(ct, b, sizeof(b)) != 0)
            return -1;
        snprintf(delim, sizeof(delim), "\r\n--%s", b);
        /* the first delimiter may start right at the body */
        const char *cur = strncmp(body, delim + 2, strlen(delim) - 2) == 0 ? body - 2 : strstr(body, delim);
        while (cur != NULL && cur < end) {
            const char *after = cur + strlen(delim);
            if (strncmp(after, "--", 2) == 0)
                return 0; /* close delimiter */
            const char *start = strstr(after, "\r\n");
            if (start == NULL)
                return -1;
            start += 2;
            const char *next = strstr(start, delim);
            if (next == NULL || next > end)
                return -1;
            if (parse_entity(m, start, next, depth + 1) != 0)
                return -1;
            cur = next;
        }
        return -1; /* no close delimiter */
    }
    if (m->nparts >= 8)
        return -1;
    struct eml_part *pt = &m->parts[m->nparts++];
    pt->content_type = strdup(ct);
    pt->encoding = strdup(enc);
    pt->disposition = strdup(disp);
    size_t blen = (size_t)(end - body);
    if (strcasecmp(enc, "quoted-printable") == 0) {
        pt->data = eml_decode_qp(body, blen, &pt->len);
    } else if (strcasecmp(enc, "base64") == 0) {
        pt->data = eml_decode_b64(body, blen, &pt->len);
    } else {
        pt->data = (unsigned char *)strndup(body, blen);
        pt->len = blen;
    }
    return pt->content_type && pt->encoding && pt->disposition && pt->data ? 0 : -1;
}

int eml_load(const char *path, struct eml *m)
{
    memset(m, 0, sizeof(*m));
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    size_t cap = 1 << 16;
    m->raw = malloc(cap);
    size_t n;
    while (m->raw && (n = fread(m->raw + m->raw_len, 1, cap - m->raw_len - 1, f)) > 0) {
        m->raw_len += n;
        if (m->raw_len + 1 == cap) {
            cap *= 2;
            char *p = realloc(m->raw, cap);
            if (p == NULL) {
                free(m->raw);
                m->raw = NULL;
            }
            m->raw = p;
        }
    }
    fclose(f);
    if (m->raw == NULL)
        return -1;
    m->raw[m->raw_len] = '\0';
    m->crlf_only = 1;
    int col = 0;
    for (size_t i = 0; i < m->raw_len; i++) {
        if (m->raw[i] == '\n') {
            if (i == 0 || m->raw[i - 1] != '\r')
                m->crlf_only = 0;
            if (col - 1 > m->max_line)
                m->max_line = col - 1;
            col = 0;
        } else {
            col++;
        }
    }
    return parse_entity(m, m->raw, m->raw + m->raw_len, 0);
}

void eml_free(struct eml *m)
{
    for (int i = 0; i < m->nparts; i++) {
        free(m->parts[i].content_type);
        free(m->parts[i].encoding);
        free(m->parts[i].disposition);
        free(m->parts[i].data);
    }
    free(m->raw);
    memset(m, 0, sizeof(*m));
}

const char *eml_header(const struct eml *m, const char *name, int decode, char *out, size_t n)
{
    const char *sep = strstr(m->raw, "\r\n\r\n");
    char tmp[2048];
    if (sep == NULL || find_header(m->raw, sep + 2, name, tmp, sizeof(tmp)) != 0) {
        out[0] = '\0';
        return out;
    }
    if (decode)
        decode_words(tmp, out, n);
    else
        snprintf(out, n, "%s", tmp);
    return out;
}

const struct eml_part *eml_part(const struct eml *m, const char *type)
{
    for (int i = 0; i < m->nparts; i++)
        if (strncasecmp(m->parts[i].content_type, type, strlen(type)) == 0)
            return &m->parts[i];
    return NULL;
}
