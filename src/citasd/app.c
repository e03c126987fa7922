/* citasd's application: every route of the HTTP API and the modules with per-worker state. */
#include "app.h"
#include "citas/guard.h"

static const struct server_route routes[] = {
    {"GET", "/healthz", "healthz", server_on_healthz},
    {"GET", "/readyz", "readyz", server_on_readyz},
    {"GET", "/metrics", "metrics", server_on_metrics},
};

static const struct server_module *const modules[] = {
    &guard_server_module,
};

const struct server_app citasd_app = {
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
    .modules = modules,
    .nmodules = sizeof(modules) / sizeof(modules[0]),
};
