/*
 * RESP command formatting: an array of bulk strings, as hiredis' redisFormatCommandArgv() writes it, without
 * its two sprintf() calls per argument (the client's largest CPU cost in bench-redis, and 5-9% of citasd's
 * samples in a release's first second: every booking sends four or five EVALSHA of up to a dozen arguments).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Decimal digits of v into out (at most 20), returns their count. */
static size_t put_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static size_t digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

long long redis_format_argv(char **out, int argc, const char **argv, const size_t *argvlen)
{
    *out = NULL;
    if (argc < 0)
        return -1;
    size_t total = 1 + digits((uint64_t)argc) + 2;
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        total += 1 + digits(len) + 2 + len + 2;
    }
    char *cmd = malloc(total + 1);
    if (cmd == NULL)
        return -1;
    char *w = cmd;
    *w++ = '*';
    w += put_u64(w, (uint64_t)argc);
    *w++ = '\r';
    *w++ = '\n';
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        *w++ = '$';
        w += put_u64(w, len);
        *w++ = '\r';
        *w++ = '\n';
        if (len > 0)
            memcpy(w, argv[i], len);
        w += len;
        *w++ = '\r';
        *w++ = '\n';
    }
    *w = '\0';
    *out = cmd;
    return (long long)(w - cmd);
}

size_t redis_format_uint(char *out, uint64_t v)
{
    size_t n = put_u64(out, v);
    out[n] = '\0';
    return n;
}
