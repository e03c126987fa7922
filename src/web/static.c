/*
 * Static assets compiled into the binary (assets.py): GET /static/<stem>.<hash>.<ext>, immutable for a
 * year with an ETag (If-None-Match answers 304). A plain /static/<name> redirects to the current URL.
 */
#include "internal.h"

#include <string.h>

#include "assets.h"

#define NASSETS (sizeof(web_assets) / sizeof(web_assets[0]))

const char *web_asset_url(const char *name)
{
    for (size_t i = 0; i < NASSETS; i++)
        if (strcmp(web_assets[i].name, name) == 0)
            return web_assets[i].url;
    return "/static/missing";
}

/* Whether an If-None-Match header value lists etag (or is "*"). */
static int etag_matches(const char *h, size_t len, const char *etag)
{
    size_t el = strlen(etag);
    for (size_t i = 0; i < len; i++) {
        if (h[i] == '*')
            return 1;
        if (i + el <= len && memcmp(h + i, etag, el) == 0)
            return 1;
        /* W/"..." weak validators compare equal for GET */
    }
    return 0;
}

void web_on_static(h2o_req_t *req, const struct server_params *p)
{
    h2o_iovec_t name = p->v[0];
    for (size_t i = 0; i < NASSETS; i++) {
        const struct web_asset *a = &web_assets[i];
        if (strlen(a->url) == 8 + name.len && memcmp(a->url + 8, name.base, name.len) == 0) {
            server_add_header(req, "etag", a->etag);
            size_t len = 0;
            const char *inm = server_header(req, "if-none-match", &len);
            if (inm != NULL && etag_matches(inm, len, a->etag)) {
                web_send(req, 304, NULL, "", 0, "public, max-age=31536000, immutable");
                return;
            }
            web_send(req, 200, a->ctype, (const char *)a->data, a->len,
                     "public, max-age=31536000, immutable");
            return;
        }
        if (strlen(a->name) == name.len && memcmp(a->name, name.base, name.len) == 0) {
            web_redirect(req, a->url);
            return;
        }
    }
    web_send(req, 404, "text/plain; charset=utf-8", "not found\n", 10, "no-store");
}
