/* Matching a request against the application's route table. */
#include "internal.h"

#include <string.h>

static const struct server_route *routes;
static size_t nroutes;

void router_init(const struct server_app *app)
{
    routes = app->routes;
    nroutes = app->nroutes;
}

size_t route_count(void)
{
    return nroutes;
}

const struct server_route *route_at(size_t i)
{
    return i < nroutes ? &routes[i] : NULL;
}

size_t route_index(const struct server_route *r)
{
    return r == NULL ? ROUTE_NONE : (size_t)(r - routes);
}

/* Matches the path (without query string) against a pattern, segment by segment. */
static int match(const char *pattern, const char *path, size_t len, struct server_params *p)
{
    const char *end = path + len;
    p->n = 0;
    while (*pattern != '\0') {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            const char *seg = path;
            while (path < end && *path != '/')
                path++;
            if (path == seg || p->n == SERVER_MAX_PARAMS)
                return 0;
            p->v[p->n++] = h2o_iovec_init(seg, (size_t)(path - seg));
            pattern = close + 1;
            continue;
        }
        if (path == end || *pattern != *path)
            return 0;
        pattern++;
        path++;
    }
    return path == end;
}

const struct server_route *route_match(h2o_iovec_t method, h2o_iovec_t path, struct server_params *p,
                                       int *path_known)
{
    size_t len = path.len;
    const char *q = memchr(path.base, '?', path.len);
    if (q != NULL)
        len = (size_t)(q - path.base);
    *path_known = 0;
    for (size_t i = 0; i < nroutes; i++) {
        if (!match(routes[i].pattern, path.base, len, p))
            continue;
        if (h2o_memis(method.base, method.len, routes[i].method, strlen(routes[i].method)))
            return &routes[i];
        /* HEAD is served by the GET handler; h2o drops the body */
        if (h2o_memis(method.base, method.len, H2O_STRLIT("HEAD")) && strcmp(routes[i].method, "GET") == 0)
            return &routes[i];
        *path_known = 1;
    }
    return NULL;
}
