/* Staff pages' shared steps: role check, the page frame with its section navigation, labels, queries. */
#include "helpdesk_page.h"

#include <inttypes.h>
#include <stdio.h>
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

const char *hdp_state_label(int en, const char *s)
{
    if (strcmp(s, "abierto") == 0)
        return en ? "Open" : "Abierto";
    if (strcmp(s, "en_proceso") == 0)
        return en ? "In progress" : "En proceso";
    if (strcmp(s, "resuelto") == 0)
        return en ? "Resolved" : "Resuelto";
    if (strcmp(s, "cerrado") == 0)
        return en ? "Closed" : "Cerrado";
    return s;
}

const char *hdp_concept_label(int en, const char *c)
{
    if (strcmp(c, "sin_codigo") == 0)
        return en ? "Code not received" : "No recibió el código";
    if (strcmp(c, "sin_citas") == 0)
        return en ? "No appointments available" : "Sin citas disponibles";
    if (strcmp(c, "error_portal") == 0)
        return en ? "Website error" : "Error del portal";
    if (strcmp(c, "datos_incorrectos") == 0)
        return en ? "Wrong personal data" : "Datos incorrectos";
    if (strcmp(c, "cancelacion") == 0)
        return en ? "Cancellation" : "Cancelación";
    if (strcmp(c, "otro") == 0)
        return en ? "Other" : "Otro";
    return c;
}

int hdp_date_ok(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 2000 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

void hdp_unavailable(h2o_req_t *req)
{
    web_page_message(req, 503, "Servicio no disponible", "Service unavailable",
                     "No podemos leer los datos en este momento. Intente de nuevo en unos segundos.",
                     "We cannot read the data right now. Please try again in a few seconds.");
}

void hdp_bad_request(h2o_req_t *req, const char *text_es, const char *text_en)
{
    web_page_message(req, 400, "Datos no válidos", "Invalid data", text_es, text_en);
}

/* --- the session and its role --- */

struct need {
    unsigned roles;
    hdp_cb cb;
    struct hdp *h;
};

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct need *n = ctx;
    if ((n->roles & AUTH_ROLE_BIT(s->role)) == 0) {
        web_page_message(req, 403, "Acceso restringido", "Access restricted",
                         "Su cuenta no tiene permiso para ver esta página. Si la necesita para su trabajo, "
                         "pida el rol adecuado a la administración del sistema.",
                         "Your account may not see this page. If you need it for your work, ask the system "
                         "administrators for the right role.");
        return;
    }
    memcpy(n->h->csrf, s->csrf, sizeof(n->h->csrf));
    snprintf(n->h->account, sizeof(n->h->account), "%" PRId64, s->account_id);
    n->h->role = s->role;
    snprintf(n->h->office, sizeof(n->h->office), "%s", s->office);
    n->cb(req, n->h);
}

void hdp_require(h2o_req_t *req, unsigned roles, hdp_cb cb, void *ctx)
{
    struct need *n = h2o_mem_alloc_pool(&req->pool, sizeof(*n));
    n->roles = roles;
    n->cb = cb;
    n->h = h2o_mem_alloc_pool(&req->pool, sizeof(*n->h));
    memset(n->h, 0, sizeof(*n->h));
    n->h->ctx = ctx;
    web_with_session(req, on_session, n);
}

/* --- read-only queries --- */

struct rows {
    struct hdp *h;
    hdp_rows_cb render;
};

static void on_rows(const struct pg_reply *reply, void *ctx)
{
    struct rows *q = ctx;
    h2o_req_t *req = server_async_req(q);
    if (req != NULL) {
        if (reply->status != PG_OK)
            hdp_unavailable(req);
        else
            q->render(req, q->h, reply->results, reply->nresults);
    }
    server_async_release(q);
}

void hdp_commit(h2o_req_t *req, struct hdp *h, struct pg_tx *tx, hdp_rows_cb render)
{
    struct rows *q = server_async_alloc(req, sizeof(*q));
    if (q == NULL || tx == NULL) {
        pg_tx_abort(tx);
        if (q != NULL)
            server_async_release(q);
        hdp_unavailable(req);
        return;
    }
    q->h = h;
    q->render = render;
    if (pg_tx_commit(tx, on_rows, q) != 0) {
        server_async_release(q);
        hdp_unavailable(req);
    }
}

/* --- the frame --- */

void hdp_open(struct web_page *pg, h2o_req_t *req, struct hdp *h, const char *title_es, const char *title_en,
              const char *current)
{
    int en = web_lang_en(req);
    web_page_open(pg, req, en ? title_en : title_es, h->csrf, WEB_PAGE_STAFF, NULL);
    struct wbuf *b = &pg->b;
    wb_raw(b, "<link rel=\"stylesheet\" href=\"");
    wb_raw(b, web_asset_url("helpdesk.css"));
    wb_raw(b, "\">\n<script src=\"");
    wb_raw(b, web_asset_url("helpdesk.js"));
    wb_raw(b, "\" defer></script>\n");
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
        wb_fmt(b, "<li><a href=\"%s\"%s>%s</a></li>", items[i].href,
               strcmp(items[i].key, current) == 0 ? " aria-current=\"page\"" : "",
               T(pg, items[i].es, items[i].en));
    }
    wb_raw(b, "</ul></nav>\n");
}

void hdp_office_options(struct web_page *pg, const struct web_ref *ref, const char *selected)
{
    for (size_t i = 0; ref != NULL && i < ref->noffices; i++) {
        const struct web_office *o = &ref->offices[i];
        wb_raw(&pg->b, "<option value=\"");
        wb_esc(&pg->b, o->code);
        wb_raw(&pg->b, "\"");
        if (selected != NULL && strcmp(selected, o->code) == 0)
            wb_raw(&pg->b, " selected");
        wb_raw(&pg->b, ">");
        wb_esc(&pg->b, o->code);
        wb_raw(&pg->b, " · ");
        wb_esc(&pg->b, pg->en ? o->name_en : o->name_es);
        wb_raw(&pg->b, "</option>");
    }
}
