/* citasd's application: every route of the HTTP API and the modules with per-worker state. */
#include "app.h"

static const struct server_route routes[] = {
    {"GET", "/healthz", "healthz", server_on_healthz},
    {"GET", "/readyz", "readyz", server_on_readyz},
    {"GET", "/metrics", "metrics", server_on_metrics},
};

static const struct server_module *const modules[] = {NULL};

const struct server_app citasd_app = {
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
    .modules = modules,
    .nmodules = 0,
};
