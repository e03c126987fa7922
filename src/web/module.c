/* The web module for citasd: configuration keys, the per-worker cache and the Content-Security-Policy. */
#include "internal.h"
#include "citas/guard.h"
#include "citas/pg.h"
#include "citas/ring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SCRIPT_URL "https://js.hcaptcha.com/1/api.js"

static const struct server_config_key keys[] = {
    {"web_hcaptcha_script_url",
     DEFAULT_SCRIPT_URL},          /* the hCaptcha widget's script (tests: a local stand-in) */
    {"web_reference_ttl_s", "60"}, /* how long a worker keeps offices and procedures */
    {NULL, NULL},
};

/* The sources the CSP must allow for the captcha script: its origin, or hCaptcha's hosts. */
static int captcha_sources(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    out[0] = '\0';
    if (p == NULL)
        return url[0] == '/' ? 0 : -1; /* a path on this server: 'self' covers it */
    const char *host = p + 3;
    size_t n = strcspn(host, "/?#");
    if (n == 0 || (size_t)(host - url) + n >= cap)
        return -1;
    for (size_t i = 0; i < (size_t)(host - url) + n; i++)
        if (url[i] == ' ' || url[i] == ';' || url[i] == ',' || url[i] == '\'' || (unsigned char)url[i] < 0x21)
            return -1;
    size_t hl = strcspn(host, ":/?#");
    if (hl >= 12 && memcmp(host + hl - 12, "hcaptcha.com", 12) == 0)
        snprintf(out, cap, "https://hcaptcha.com https://*.hcaptcha.com");
    else
        snprintf(out, cap, "%.*s", (int)((size_t)(host - url) + n), url);
    return 0;
}

static void worker_free(void *state)
{
    struct web_worker *ww = state;
    if (ww == NULL)
        return;
    web_ref_free(ww->ref);
    free(ww->csp);
    free(ww);
}

static int worker_init(struct server_worker *w, void **state)
{
    struct web_worker *ww = calloc(1, sizeof(*ww));
    if (ww == NULL)
        return -ENOMEM;
    *state = ww;
    ww->w = w;
    ww->ring = server_worker_ring(w);
    ww->pg = server_worker_pg(w);
    ww->guard = guard_for_worker(w);
    const struct server_config *c = server_worker_config(w);
    ww->script_url = server_config_get(c, "web_hcaptcha_script_url");
    ww->sitekey = server_config_get(c, "hcaptcha_sitekey");
    if (ww->script_url == NULL || ww->script_url[0] == '\0')
        ww->script_url = DEFAULT_SCRIPT_URL;
    if (ww->sitekey == NULL)
        ww->sitekey = "";
    char err[160];
    uint64_t ttl = 60;
    if (server_config_uint(c, "web_reference_ttl_s", &ttl, err, sizeof(err)) != 0 || ttl == 0)
        return -EINVAL;
    ww->ref_ttl_ms = ttl * 1000;
    char src[512];
    if (captcha_sources(ww->script_url, src, sizeof(src)) != 0)
        return -EINVAL;
    char csp[1400];
    snprintf(
        csp, sizeof(csp),
        "default-src 'self'; script-src 'self'%s%s; frame-src %s; style-src 'self'%s%s; img-src 'self' "
        "data:; "
        "connect-src 'self'%s%s; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'",
        src[0] ? " " : "", src, src[0] ? src : "'none'", src[0] ? " " : "", src, src[0] ? " " : "", src);
    if ((ww->csp = strdup(csp)) == NULL)
        return -ENOMEM;
    return 0;
}

static void worker_stop(void *state)
{
    web_ref_stop(state);
}

const struct server_module web_server_module = {
    .name = "web",
    .keys = keys,
    .worker_init = worker_init,
    .worker_stop = worker_stop,
    .worker_free = worker_free,
};

struct web_worker *web_worker_of(h2o_req_t *req)
{
    return server_worker_module(server_worker_of(req), &web_server_module);
}
