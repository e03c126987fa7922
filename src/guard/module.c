/* guard as a citasd module: one guard per worker, configured from citas.conf. */
#include "citas/guard.h"
#include "citas/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const struct server_config_key keys[] = {
    {"hcaptcha_siteverify_url", GUARD_DEFAULT_SITEVERIFY_URL},
    {"hcaptcha_secret", ""},
    {"hcaptcha_sitekey", ""},
    {"hcaptcha_hostname", ""},
    {"hcaptcha_timeout_ms", "3000"},
    {"captcha_actions", GUARD_DEFAULT_ACTIONS},
    {"captcha_reuse_ttl_s", "150"},
    {"rate_limits", ""},
    {NULL, NULL},
};

static int worker_init(struct server_worker *w, void **state)
{
    const struct server_config *cfg = server_worker_config(w);
    char err[256];
    uint64_t timeout_ms, ttl;
    if (server_config_uint(cfg, "hcaptcha_timeout_ms", &timeout_ms, err, sizeof(err)) != 0 ||
        server_config_uint(cfg, "captcha_reuse_ttl_s", &ttl, err, sizeof(err)) != 0) {
        fprintf(stderr, "citasd: %s\n", err);
        return -EINVAL;
    }
    struct guard_config gc = {
        .siteverify_url = server_config_get(cfg, "hcaptcha_siteverify_url"),
        .secret = server_config_get(cfg, "hcaptcha_secret"),
        .sitekey = server_config_get(cfg, "hcaptcha_sitekey"),
        .hostname = server_config_get(cfg, "hcaptcha_hostname"),
        .timeout_ms = (uint32_t)timeout_ms,
        .actions = server_config_get(cfg, "captcha_actions"),
        .rate_limits = server_config_get(cfg, "rate_limits"),
        .reuse_ttl_s = (uint32_t)ttl,
    };
    struct guard *g;
    int rc = guard_create(server_worker_ring(w), server_worker_redis(w), server_worker_curl(w), &gc, &g, err,
                          sizeof(err));
    if (rc != 0) {
        /* start-up configuration errors are reported once, at the edge */
        if (server_worker_id(w) == 0)
            fprintf(stderr, "citasd: %s\n", err);
        return rc;
    }
    *state = g;
    return 0;
}

static void worker_stop(void *state)
{
    guard_destroy(state);
}

const struct server_module guard_server_module = {
    .name = "guard",
    .keys = keys,
    .worker_init = worker_init,
    .worker_stop = worker_stop,
};

struct guard *guard_for_worker(struct server_worker *w)
{
    return server_worker_module(w, &guard_server_module);
}
