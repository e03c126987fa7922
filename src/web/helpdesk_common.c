/* Staff pages' shared steps: role check, the page frame with its section navigation, labels, queries. */
#include "helpdesk_page.h"

#include <string.h>

const char *const hdp_states[] = {"abierto", "en_proceso", "resuelto", "cerrado", NULL};
const char *const hdp_concepts[] = {
    "sin_codigo", "sin_citas", "error_portal", "datos_incorrectos", "cancelacion", "otro", NULL};

int hdp_in(const char *const *list, const char *s)
{
    for (size_t i = 0; s != NULL && list[i] != NULL; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* clang-format off */
static const char *const hdp_state_labels[] = {
    "abierto", "Abierto", "Open",
    "en_proceso", "En proceso", "In progress",
    "resuelto", "Resuelto", "Resolved",
    "cerrado", "Cerrado", "Closed",
    NULL,
};
/* clang-format on */

const char *hdp_state_label(int en, const char *s)
{
    return console_label(hdp_state_labels, en, s);
}

/* clang-format off */
static const char *const hdp_concept_labels[] = {
    "sin_codigo", "No recibió el código", "Code not received",
    "sin_citas", "Sin citas disponibles", "No appointments available",
    "error_portal", "Error del portal", "Website error",
    "datos_incorrectos", "Datos incorrectos", "Wrong personal data",
    "cancelacion", "Cancelación", "Cancellation",
    "otro", "Otro", "Other",
    NULL,
};
/* clang-format on */

const char *hdp_concept_label(int en, const char *c)
{
    return console_label(hdp_concept_labels, en, c);
}

void hdp_bad_request(h2o_req_t *req, const char *text_es, const char *text_en)
{
    web_page_message(req, 400, "Datos no válidos", "Invalid data", text_es, text_en);
}

/* --- the session and its role --- */

struct need {
    unsigned roles;
    console_cb cb;
    struct console *h;
};

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct need *n = ctx;
    if ((n->roles & AUTH_ROLE_BIT(s->role)) == 0) {
        console_forbidden(req,
                          "Su cuenta no tiene permiso para ver esta página. Si la necesita para su trabajo, "
                          "pida el rol adecuado a la administración del sistema.",
                          "Your account may not see this page. If you need it for your work, ask the system "
                          "administrators for the right role.");
        return;
    }
    console_take_session(n->h, s);
    n->cb(req, n->h);
}

void hdp_require(h2o_req_t *req, unsigned roles, console_cb cb, void *ctx)
{
    struct need *n = h2o_mem_alloc_pool(&req->pool, sizeof(*n));
    n->roles = roles;
    n->cb = cb;
    n->h = console_new(req, ctx);
    web_with_session(req, on_session, n);
}

/* --- the frame --- */

void hdp_open(struct web_page *pg, h2o_req_t *req, struct console *h, const char *title_es,
              const char *title_en, const char *current)
{
    int en = web_lang_en(req);
    console_open(pg, req, h, en ? title_en : title_es, "helpdesk.css", "helpdesk.js");
    struct wbuf *b = &pg->b;
    static const struct {
        const char *key, *href, *es, *en;
        unsigned roles;
    } items[] = {
        {"tickets", "/helpdesk", "Incidencias", "Tickets", HDP_HELPDESK_ROLES},
        {"new", "/helpdesk/tickets/new", "Nueva incidencia", "New ticket", HDP_HELPDESK_ROLES},
        {"stats", "/helpdesk/stats", "Estadísticas", "Statistics", HDP_HELPDESK_ROLES},
        {"lookup", "/helpdesk/lookup", "Consultar citas", "Look up appointments", HDP_HELPDESK_ROLES},
        {"audit", "/staff/audit", "Registro de auditoría", "Audit log", HDP_AUDIT_ROLES},
        {"console", "/staff", "Consola del personal", "Staff console", HDP_AUDIT_ROLES},
    };
    wb_fmt(b, "<nav class=\"subnav\" aria-label=\"%s\"><ul>", T(pg, "Personal", "Staff"));
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        if ((items[i].roles & AUTH_ROLE_BIT(h->role)) == 0)
            continue;
        console_nav_item(pg, items[i].href, T(pg, items[i].es, items[i].en),
                         strcmp(items[i].key, current) == 0);
    }
    wb_raw(b, "</ul></nav>\n");
}
