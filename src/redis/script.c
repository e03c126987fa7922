/* redis scripts: SHA1 of the source, EVALSHA, and the EVAL retry when Redis answers NOSCRIPT. */
#include "internal.h"
#include "citas/hex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

struct redis_script *redis_script_create(const char *lua_source)
{
    if (lua_source == NULL)
        return NULL;
    struct redis_script *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->len = strlen(lua_source);
    s->source = malloc(s->len + 1);
    if (s->source == NULL) {
        free(s);
        return NULL;
    }
    memcpy(s->source, lua_source, s->len + 1);
    unsigned char md[SHA_DIGEST_LENGTH];
    if (SHA1((const unsigned char *)s->source, s->len, md) == NULL) {
        redis_script_free(s);
        return NULL;
    }
    hex_encode(s->sha, md, SHA_DIGEST_LENGTH);
    return s;
}

void redis_script_free(struct redis_script *s)
{
    if (s == NULL)
        return;
    free(s->source);
    free(s);
}

const char *redis_script_sha(const struct redis_script *s)
{
    return s->sha;
}

#define STACK_ARGS 32

int redis_evalsha(struct redis_client *c, const struct redis_script *s, int nkeys, int argc,
                  const char **argv, const size_t *argvlen, redis_reply_cb cb, void *ctx)
{
    if (c == NULL || s == NULL || cb == NULL || argc < 0 || nkeys < 0 || nkeys > argc || argc > 1000000 ||
        (argc > 0 && argv == NULL))
        return -EINVAL;
    if (c->state != REDIS_ST_CONNECTED && c->state != REDIS_ST_CONNECTING)
        return -ENOTCONN;
    const char *sav[STACK_ARGS + 3], **av = sav;
    size_t sal[STACK_ARGS + 3], *al = sal;
    if (argc > STACK_ARGS) {
        av = malloc((size_t)(argc + 3) * sizeof(*av));
        al = malloc((size_t)(argc + 3) * sizeof(*al));
        if (av == NULL || al == NULL) {
            free(av);
            free(al);
            return -ENOMEM;
        }
    }
    char nk[24];
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = s->sha;
    al[1] = 40;
    al[2] = redis_format_uint(nk, (uint64_t)nkeys);
    av[2] = nk;
    for (int i = 0; i < argc; i++) {
        av[3 + i] = argv[i];
        al[3 + i] = argvlen ? argvlen[i] : strlen(argv[i]);
    }
    char *cmd = NULL;
    long long len = redis_format_argv(&cmd, argc + 3, av, al);
    if (av != sav) {
        free(av);
        free(al);
    }
    if (len < 0)
        return -ENOMEM;
    /* the formatted command is kept until the reply, for the retry: no second copy of the arguments */
    int rc = redis_enqueue(c, cmd, (size_t)len, cb, ctx, cmd, s, 0);
    if (rc < 0)
        free(cmd);
    return rc;
}

int redis_script_retry(struct redis_client *c, const struct pending *p)
{
    /* p->evalsha is "*N\r\n" "$7\r\nEVALSHA\r\n" "$40\r\n<sha>\r\n" <rest>; EVAL has the same N */
    const char *cmd = p->evalsha, *end = cmd + p->evalsha_len;
    const char *nl = memchr(cmd, '\n', p->evalsha_len);
    if (nl == NULL)
        return -EINVAL;
    const char *rest = nl + 1 + 13 + 47;
    if (rest > end)
        return -EINVAL;
    size_t head = (size_t)(nl + 1 - cmd);
    char lenbuf[32];
    int ll = snprintf(lenbuf, sizeof(lenbuf), "$4\r\nEVAL\r\n$%zu\r\n", p->script->len);
    size_t total = head + (size_t)ll + p->script->len + 2 + (size_t)(end - rest);
    char *eval = malloc(total);
    if (eval == NULL)
        return -ENOMEM;
    char *w = eval;
    memcpy(w, cmd, head);
    w += head;
    memcpy(w, lenbuf, (size_t)ll);
    w += ll;
    memcpy(w, p->script->source, p->script->len);
    w += p->script->len;
    memcpy(w, "\r\n", 2);
    w += 2;
    memcpy(w, rest, (size_t)(end - rest));
    /* no evalsha kept: a second NOSCRIPT is not possible for EVAL, and one retry is the limit */
    int rc = redis_enqueue(c, eval, total, p->cb, p->ctx, NULL, NULL, 1);
    free(eval);
    return rc;
}
