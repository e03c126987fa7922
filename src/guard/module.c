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
    {"rate_limit_memory", "4096"},
    {NULL, NULL},
};

static int worker_init(struct server_worker *w, void **state)
{
    const struct server_config *cfg = server_worker_config(w);
    char err[256];
    uint64_t timeout_ms, ttl, memory;
    if (server_config_uint(cfg, "hcaptcha_timeout_ms", &timeout_ms, err, sizeof(err)) != 0 ||
        server_config_uint(cfg, "captcha_reuse_ttl_s", &ttl, err, sizeof(err)) != 0 ||
        server_config_uint(cfg, "rate_limit_memory", &memory, err, sizeof(err)) != 0) {
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
        .refusal_slots = memory > (1u << 20) ? 1u << 20 : (uint32_t)memory,
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

static void metrics(struct server_metrics *m)
{
    struct guard_stats t;
    guard_get_totals(&t);
    server_metrics_put(m,
                       "# HELP citas_guard_rate_checks_total Rate-limit checks by verdict.\n"
                       "# TYPE citas_guard_rate_checks_total counter\n"
                       "citas_guard_rate_checks_total{verdict=\"ok\"} %llu\n"
                       "citas_guard_rate_checks_total{verdict=\"limited\"} %llu\n"
                       "citas_guard_rate_checks_total{verdict=\"unavailable\"} %llu\n"
                       "# HELP citas_guard_rate_remembered_total Refusals answered from the worker's memory of "
                       "an earlier one, without Redis.\n"
                       "# TYPE citas_guard_rate_remembered_total counter\n"
                       "citas_guard_rate_remembered_total %llu\n",
                       (unsigned long long)t.rate_ok, (unsigned long long)t.rate_limited,
                       (unsigned long long)t.rate_unavailable, (unsigned long long)t.rate_remembered);
}

const struct server_module guard_server_module = {
    .name = "guard",
    .keys = keys,
    .worker_init = worker_init,
    .worker_stop = worker_stop,
    .metrics = metrics,
};

struct guard *guard_for_worker(struct server_worker *w)
{
    return server_worker_module(w, &guard_server_module);
}
