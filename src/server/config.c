/* Configuration: defaults, then a `key = value` file, then CITAS_<KEY> environment overrides. */
#include "citas/server.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { STR, UINT, SIZE, MS };

struct key {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *def;
};

#define K(n, k, d)                                                                                           \
    {                                                                                                        \
#n, k, offsetof(struct server_config, n), d                                                          \
    }
static const struct key keys[] = {
    K(listen, STR, "127.0.0.1:8080"),
    K(tls_listen, STR, ""),
    K(tls_cert, STR, ""),
    K(tls_key, STR, ""),
    K(workers, UINT, "0"),
    K(max_request_body, SIZE, "65536"),
    K(max_request_headers, SIZE, "16384"),
    K(io_timeout_ms, MS, "10000"),
    K(shutdown_timeout_ms, MS, "10000"),
    K(access_log, STR, "-"),
    K(redis_host, STR, "127.0.0.1"),
    K(redis_port, UINT, "6379"),
    K(redis_timeout_ms, MS, "2000"),
    K(pg_dsn, STR, "host=127.0.0.1 port=5432 dbname=citas"),
    K(pg_pool_size, UINT, "2"),
    K(pg_timeout_ms, MS, "5000"),
    K(health_interval_ms, MS, "1000"),
    K(ring_entries, UINT, "1024"),
    K(background_worker, UINT, "1"),
    K(background_nice, UINT, "0"),
    K(ring_poke_us, UINT, "1000"),
    K(ring_poke_drain, UINT, "0"),
    K(admission_max_active, UINT, "256"),
    K(admission_max_wait_ms, MS, "30000"),
    K(admission_promote_ms, MS, "1000"),
    K(malloc_keep_mb, UINT, "64"),
};
#undef K
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int set(struct server_config *cfg, const struct key *k, const char *value, char *err, size_t errlen)
{
    void *field = (char *)cfg + k->offset;
    if (k->kind == STR) {
        char *copy = strdup(value);
        if (copy == NULL)
            return fail(err, errlen, "out of memory"), -1;
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-')
        return fail(err, errlen, "%s: '%s' is not a non-negative integer", k->name, value), -1;
    switch (k->kind) {
    case UINT:
        if (v > 65535 * 16)
            return fail(err, errlen, "%s: %llu is too large", k->name, v), -1;
        *(unsigned *)field = (unsigned)v;
        break;
    case SIZE:
        *(size_t *)field = (size_t)v;
        break;
    case MS:
        *(uint64_t *)field = (uint64_t)v;
        break;
    case STR:
        break;
    }
    return 0;
}

static struct server_config_extra *find_extra(const struct server_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nextra; i++)
        if (strcmp(cfg->extra[i].name, name) == 0)
            return &cfg->extra[i];
    return NULL;
}

static int set_extra(struct server_config_extra *x, const char *value, char *err, size_t errlen)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return fail(err, errlen, "out of memory"), -1;
    free(x->value);
    x->value = copy;
    return 0;
}

const char *server_config_get(const struct server_config *cfg, const char *name)
{
    struct server_config_extra *x = find_extra(cfg, name);
    return x != NULL ? x->value : NULL;
}

int server_config_uint(const struct server_config *cfg, const char *name, uint64_t *out, char *err,
                       size_t errlen)
{
    const char *v = server_config_get(cfg, name);
    if (v == NULL)
        return fail(err, errlen, "unknown configuration key %s", name), -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-')
        return fail(err, errlen, "%s: '%s' is not a non-negative integer", name, v), -1;
    *out = n;
    return 0;
}

static const struct key *find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct server_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, errlen, "%s: %s", path, strerror(errno)), -1;
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            fail(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        const struct key *k = find(name);
        struct server_config_extra *x = k == NULL ? find_extra(cfg, name) : NULL;
        if (x != NULL) {
            if (set_extra(x, value, err, errlen) != 0)
                rc = -1;
        } else if (k == NULL) {
            fail(err, errlen, "%s:%d: unknown key '%s'", path, lineno, name);
            rc = -1;
        } else if (set(cfg, k, value, err, errlen) != 0) {
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

static int add_module_keys(struct server_config *cfg, const struct server_app *app, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t m = 0; app != NULL && m < app->nmodules; m++)
        for (const struct server_config_key *k = app->modules[m]->keys; k != NULL && k->name != NULL; k++)
            n++;
    if (n == 0)
        return 0;
    if ((cfg->extra = calloc(n, sizeof(*cfg->extra))) == NULL)
        return fail(err, errlen, "out of memory"), -1;
    for (size_t m = 0; m < app->nmodules; m++)
        for (const struct server_config_key *k = app->modules[m]->keys; k != NULL && k->name != NULL; k++) {
            if (find(k->name) != NULL || find_extra(cfg, k->name) != NULL)
                return fail(err, errlen, "configuration key %s is declared twice", k->name), -1;
            cfg->extra[cfg->nextra].name = k->name;
            if (set_extra(&cfg->extra[cfg->nextra++], k->def, err, errlen) != 0)
                return -1;
        }
    return 0;
}

static void env_name(char *env, size_t cap, const char *name)
{
    size_t n = (size_t)snprintf(env, cap, "CITAS_");
    for (const char *p = name; *p && n < cap - 1; p++)
        env[n++] = (char)toupper((unsigned char)*p);
    env[n] = '\0';
}

int server_config_load(struct server_config *cfg, const struct server_app *app, const char *path, char *err,
                       size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NKEYS; i++)
        if (set(cfg, &keys[i], keys[i].def, err, errlen) != 0)
            return -1;
    if (add_module_keys(cfg, app, err, errlen) != 0)
        return -1;
    if (path != NULL && load_file(cfg, path, err, errlen) != 0)
        return -1;
    char env[96];
    for (size_t i = 0; i < NKEYS; i++) {
        env_name(env, sizeof(env), keys[i].name);
        const char *v = getenv(env);
        if (v != NULL && set(cfg, &keys[i], v, err, errlen) != 0)
            return -1;
    }
    for (size_t i = 0; i < cfg->nextra; i++) {
        env_name(env, sizeof(env), cfg->extra[i].name);
        const char *v = getenv(env);
        if (v != NULL && set_extra(&cfg->extra[i], v, err, errlen) != 0)
            return -1;
    }
    if (cfg->listen[0] == '\0' && cfg->tls_listen[0] == '\0')
        return fail(err, errlen, "neither listen nor tls_listen is set"), -1;
    if (cfg->tls_listen[0] != '\0' && (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0'))
        return fail(err, errlen, "tls_listen needs tls_cert and tls_key"), -1;
    if (cfg->background_worker > 1)
        return fail(err, errlen, "background_worker must be 0 or 1"), -1;
    if (cfg->background_nice > 19)
        return fail(err, errlen, "background_nice must be between 0 and 19"), -1;
    if (cfg->ring_entries < 8)
        return fail(err, errlen, "ring_entries must be at least 8"), -1;
    if (cfg->pg_pool_size == 0)
        return fail(err, errlen, "pg_pool_size must be at least 1"), -1;
    return 0;
}

void server_config_free(struct server_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].kind == STR) {
            free(*(char **)((char *)cfg + keys[i].offset));
            *(char **)((char *)cfg + keys[i].offset) = NULL;
        }
    for (size_t i = 0; i < cfg->nextra; i++)
        free(cfg->extra[i].value);
    free(cfg->extra);
    cfg->extra = NULL;
    cfg->nextra = 0;
}
