/* pg: text-format array literals for one parameter ('{"a","b",NULL}'), for statements over unnest(). */
#include "citas/pg.h"

#include <stdlib.h>
#include <string.h>

static void put(struct pg_array *a, const char *s, size_t n)
{
    if (a->oom)
        return;
    if (a->len + n + 2 > a->cap) { /* room for the closing brace and the NUL */
        size_t cap = a->cap ? a->cap : 64;
        while (a->len + n + 2 > cap)
            cap *= 2;
        char *b = realloc(a->buf, cap);
        if (b == NULL) {
            a->oom = 1;
            return;
        }
        a->buf = b;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, s, n);
    a->len += n;
}

void pg_array_init(struct pg_array *a)
{
    memset(a, 0, sizeof(*a));
    put(a, "{", 1);
}

void pg_array_add(struct pg_array *a, const char *v)
{
    if (a->n++ > 0)
        put(a, ",", 1);
    if (v == NULL) {
        put(a, "NULL", 4);
        return;
    }
    /* every element quoted: inside quotes only the quote and the backslash need a backslash */
    put(a, "\"", 1);
    for (const char *p = v; *p != '\0';) {
        size_t run = strcspn(p, "\"\\");
        put(a, p, run);
        p += run;
        if (*p != '\0') {
            put(a, "\\", 1);
            put(a, p, 1);
            p++;
        }
    }
    put(a, "\"", 1);
}

const char *pg_array_text(struct pg_array *a)
{
    if (a->oom || a->buf == NULL)
        return NULL;
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}

void pg_array_free(struct pg_array *a)
{
    free(a->buf);
    memset(a, 0, sizeof(*a));
}
