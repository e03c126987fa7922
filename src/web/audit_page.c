/*
 * Staff pages whose data the script reads from an API, because the API is what must decide:
 *  - /helpdesk/lookup: a citizen's appointments, read-only, by email; every look-up is recorded (in
 *    helpdesk_lookups and the audit log) by GET /api/v1/helpdesk/appointments, so the page never reads them;
 *  - /staff/audit: the audit log, newest first, with filters and "older" paging by next_before; which
 *    records a consular_admin may see (their office's) is GET /api/v1/admin/audit's decision.
 * The page holds the form and an empty region; /static/helpdesk.<hash>.js fills it.
 */
#include "helpdesk_page.h"

#include <string.h>

/* ============================== /helpdesk/lookup ============================== */

static void lookup_session(h2o_req_t *req, struct console *h)
{
    struct web_page pg;
    hdp_open(&pg, req, h, "Consultar las citas de un ciudadano", "Look up a citizen's appointments",
             "lookup");
    struct wbuf *b = &pg.b;
    wb_fmt(b, "<p class=\"notice\" id=\"lookup-note\">%s</p>\n",
           T(&pg,
             "Consulta de solo lectura. Cada consulta queda registrada en el registro de auditoría con su "
             "cuenta, la hora y su dirección IP: consulte solo lo que necesite para atender una incidencia.",
             "Read-only. Every look-up is recorded in the audit log with your account, the time and your IP "
             "address: look up only what you need to handle a ticket."));
    const char *email = web_query(req, "email", 254);
    wb_fmt(b,
           "<form class=\"hd-lookup\" method=\"get\" action=\"/helpdesk/lookup\" "
           "data-api=\"/api/v1/helpdesk/appointments\" aria-describedby=\"lookup-note\" aria-label=\"%s\">\n"
           "<div class=\"alert\" role=\"alert\" tabindex=\"-1\" hidden></div>\n",
           T(&pg, "Consultar citas", "Look up appointments"));
    wb_fmt(b,
           "<div class=\"field\"><label for=\"email\">%s</label><input type=\"email\" id=\"email\" "
           "name=\"email\" required maxlength=\"254\" autocomplete=\"off\"",
           T(&pg, "Correo del ciudadano", "Citizen's email"));
    if (email != NULL) {
        wb_raw(b, " value=\"");
        wb_esc(b, email);
        wb_raw(b, "\"");
    }
    wb_fmt(b, "></div>\n<button type=\"submit\">%s</button>\n</form>\n", T(&pg, "Consultar", "Look up"));
    wb_fmt(b, "<section id=\"lookup-result\" aria-live=\"polite\" aria-label=\"%s\" hidden></section>\n",
           T(&pg, "Resultado", "Result"));
    web_page_send(&pg, 200);
}

void web_on_helpdesk_lookup(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    hdp_require(req, HDP_HELPDESK_ROLES, lookup_session, NULL);
}

/* ============================== /staff/audit ============================== */

struct audit_filters {
    const char *v[7]; /* from, to, action, actor, subject, office, before */
};
static const char *const audit_names[] = {"from", "to", "action", "actor", "subject", "office", "before"};

static void audit_field(struct web_page *pg, const char *type, int i, const char *es, const char *en,
                        const struct audit_filters *f)
{
    wb_fmt(&pg->b,
           "<div class=\"field\"><label for=\"a-%s\">%s</label><input type=\"%s\" id=\"a-%s\" name=\"%s\"",
           audit_names[i], T(pg, es, en), type, audit_names[i], audit_names[i]);
    if (f->v[i] != NULL) {
        wb_raw(&pg->b, " value=\"");
        wb_esc(&pg->b, f->v[i]);
        wb_raw(&pg->b, "\"");
    }
    wb_raw(&pg->b, "></div>\n");
}

static void audit_session(h2o_req_t *req, struct console *h)
{
    const struct audit_filters *f = h->ctx;
    struct web_page pg;
    hdp_open(&pg, req, h, "Registro de auditoría", "Audit log", "audit");
    struct wbuf *b = &pg.b;
    if (h->role == AUTH_ROLE_CONSULAR_ADMIN && h->own_office[0] != '\0') {
        wb_fmt(b, "<p class=\"notice\">%s ",
               T(&pg, "Ve los registros de su oficina:", "You see the records of your office:"));
        wb_esc(b, h->own_office);
        wb_raw(b, "</p>\n");
    }
    wb_fmt(
        b,
        "<form class=\"filters\" method=\"get\" action=\"/staff/audit\" role=\"search\" aria-label=\"%s\">\n",
        T(&pg, "Filtrar registros", "Filter records"));
    audit_field(&pg, "date", 0, "Desde", "From", f);
    audit_field(&pg, "date", 1, "Hasta", "To", f);
    audit_field(&pg, "text", 2, "Acción", "Action", f);
    audit_field(&pg, "text", 3, "Autor (número de cuenta)", "Actor (account id)", f);
    audit_field(&pg, "text", 4, "Sujeto", "Subject", f);
    audit_field(&pg, "text", 5, "Oficina", "Office", f);
    wb_fmt(b, "<button type=\"submit\">%s</button>\n</form>\n", T(&pg, "Filtrar", "Filter"));

    /* the page's filters without before (for "older" and the CSV), then the API's query: the same and before
     */
    struct wbuf base, q;
    wb_init(&base, &req->pool, 256);
    for (int i = 0; i < 6; i++) {
        if (f->v[i] == NULL)
            continue;
        wb_fmt(&base, "&%s=", audit_names[i]);
        wb_url(&base, f->v[i]);
    }
    wb_init(&q, &req->pool, 256);
    wb_raw(&q, base.p);
    if (f->v[6] != NULL) {
        wb_fmt(&q, "&%s=", audit_names[6]);
        wb_url(&q, f->v[6]);
    }
    wb_raw(b, "<p class=\"summary\"><a class=\"csv\" href=\"/api/v1/admin/audit?format=csv&amp;limit=500");
    wb_esc(b, base.p);
    wb_fmt(b, "\" download>%s</a>", T(&pg, "Exportar CSV", "Export CSV"));
    if (f->v[6] != NULL) {
        wb_raw(b, " · <a href=\"/staff/audit?");
        wb_esc(b, base.p[0] != '\0' ? base.p + 1 : "");
        wb_fmt(b, "\">%s</a>", T(&pg, "Volver a los más recientes", "Back to the newest"));
    }
    wb_raw(b, "</p>\n<div id=\"audit\" data-api=\"/api/v1/admin/audit?limit=50");
    wb_esc(b, q.p);
    wb_raw(b, "\" data-page=\"/staff/audit?x=1");
    wb_esc(b, base.p);
    wb_fmt(b, "\" aria-live=\"polite\" aria-busy=\"true\"><p class=\"loading\">%s</p></div>\n",
           T(&pg, "Cargando registros…", "Loading records…"));
    web_page_send(&pg, 200);
}

void web_on_staff_audit(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct audit_filters *f = h2o_mem_alloc_pool(&req->pool, sizeof(*f));
    static const size_t max[] = {10, 10, 64, 254, 300, AUTH_OFFICE_MAX, 20};
    int bad = 0;
    for (int i = 0; i < 7; i++) {
        size_t len = 0;
        f->v[i] = NULL;
        if (server_query(req, audit_names[i], &len) == NULL || len == 0)
            continue;
        f->v[i] = web_query(req, audit_names[i], max[i]);
        if (f->v[i] == NULL)
            bad = 1;
    }
    if (bad || (f->v[0] != NULL && !console_date_ok(f->v[0])) ||
        (f->v[1] != NULL && !console_date_ok(f->v[1])) ||
        (f->v[6] != NULL && strspn(f->v[6], "0123456789") != strlen(f->v[6]))) {
        hdp_bad_request(req, "Revise los filtros: fechas AAAA-MM-DD y textos cortos.",
                        "Please check the filters: dates YYYY-MM-DD and short texts.");
        return;
    }
    hdp_require(req, HDP_AUDIT_ROLES, audit_session, f);
}
