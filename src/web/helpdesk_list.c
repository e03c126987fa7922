/*
 * Help-desk pages: the ticket list with its filters, paging and CSV link (/helpdesk), and the counts by
 * concept and state over time with a server-drawn SVG chart (/helpdesk/stats). Read from PostgreSQL.
 */
#include "helpdesk_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE_SIZE 50
#define MAX_PAGE  1000
#define MAX_DAYS  366

/* The list's filters (NULL: not set), validated. */
struct filters {
    const char *status, *concept, *office, *from, *to, *q;
    long page;
    char page_s[16], offset_s[16];
};

/* A query value; an empty one (a form's blank field) counts as absent. */
static const char *opt(h2o_req_t *req, const char *name, size_t max, int *bad)
{
    size_t len = 0;
    if (server_query(req, name, &len) == NULL || len == 0)
        return NULL;
    const char *v = web_query(req, name, max);
    if (v == NULL)
        *bad = 1;
    return v;
}

/* Appends the filters as a query string (without page), each "&name=value". */
static void filter_query(struct wbuf *b, const struct filters *f)
{
    const char *names[] = {"status", "concept", "office", "from", "to", "q"};
    const char *vals[] = {f->status, f->concept, f->office, f->from, f->to, f->q};
    for (int i = 0; i < 6; i++) {
        if (vals[i] == NULL)
            continue;
        wb_fmt(b, "&%s=", names[i]);
        wb_url(b, vals[i]);
    }
}

static void select_open(struct web_page *pg, const char *id, const char *name, const char *es, const char *en)
{
    wb_fmt(&pg->b, "<div class=\"field\"><label for=\"%s\">%s</label><select id=\"%s\" name=\"%s\">", id,
           T(pg, es, en), id, name);
    wb_fmt(&pg->b, "<option value=\"\">%s</option>", T(pg, "Todos", "All"));
}

static void options(struct web_page *pg, const char *const *list, const char *(*label)(int, const char *),
                    const char *selected)
{
    for (size_t i = 0; list[i] != NULL; i++)
        wb_fmt(&pg->b, "<option value=\"%s\"%s>%s</option>", list[i],
               selected != NULL && strcmp(selected, list[i]) == 0 ? " selected" : "", label(pg->en, list[i]));
}

static void text_field(struct web_page *pg, const char *type, const char *id, const char *es, const char *en,
                       const char *value)
{
    wb_fmt(&pg->b,
           "<div class=\"field\"><label for=\"%s\">%s</label><input type=\"%s\" id=\"%s\" name=\"%s\"", id,
           T(pg, es, en), type, id, id);
    if (value != NULL) {
        wb_raw(&pg->b, " value=\"");
        wb_esc(&pg->b, value);
        wb_raw(&pg->b, "\"");
    }
    wb_raw(&pg->b, "></div>\n");
}

/* ============================== /helpdesk ============================== */

static void list_render(h2o_req_t *req, struct console *h, const PGresult *const *res, int nres)
{
    const struct filters *f = h->ctx;
    const PGresult *r = res[nres - 1];
    const struct web_ref *ref = web_ref_now(req);
    struct web_page pg;
    hdp_open(&pg, req, h, "Incidencias de la mesa de ayuda", "Help desk tickets", "tickets");
    struct wbuf *b = &pg.b;
    wb_fmt(b,
           "<form class=\"filters\" method=\"get\" action=\"/helpdesk\" role=\"search\" aria-label=\"%s\">\n",
           T(&pg, "Filtrar incidencias", "Filter tickets"));
    select_open(&pg, "f-status", "status", "Estado", "State");
    options(&pg, hdp_states, hdp_state_label, f->status);
    wb_raw(b, "</select></div>\n");
    select_open(&pg, "f-concept", "concept", "Concepto", "Concept");
    options(&pg, hdp_concepts, hdp_concept_label, f->concept);
    wb_raw(b, "</select></div>\n");
    select_open(&pg, "f-office", "office", "Oficina", "Office");
    console_office_options(&pg, ref, f->office);
    wb_raw(b, "</select></div>\n");
    text_field(&pg, "date", "from", "Abiertas desde", "Opened from", f->from);
    text_field(&pg, "date", "to", "Abiertas hasta", "Opened until", f->to);
    text_field(&pg, "search", "q", "Texto (número, descripción, correo, código)",
               "Text (number, description, email, code)", f->q);
    wb_fmt(b, "<button type=\"submit\">%s</button>\n</form>\n", T(&pg, "Filtrar", "Filter"));

    int n = PQntuples(r);
    long total = n > 0 ? strtol(PQgetvalue(r, 0, 8), NULL, 10) : 0;
    wb_raw(b, "<p class=\"summary\" role=\"status\">");
    if (n > 0 || f->page == 1)
        wb_fmt(b, "%ld %s · ", total,
               total == 1 ? T(&pg, "incidencia", "ticket") : T(&pg, "incidencias", "tickets"));
    wb_raw(b, "<a class=\"csv\" href=\"/api/v1/tickets?format=csv");
    filter_query(b, f);
    wb_fmt(b, "\" download>%s</a></p>\n", T(&pg, "Exportar CSV", "Export CSV"));
    if (n > 0) {
        wb_fmt(b,
               "<div class=\"scroll\"><table class=\"tickets\"><caption "
               "class=\"sr-only\">%s</caption><thead><tr>",
               T(&pg, "Incidencias, las más recientes primero", "Tickets, newest first"));
        wb_fmt(b,
               "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
               "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
               "<th scope=\"col\">%s</th><th scope=\"col\">%s</th></tr></thead><tbody>\n",
               T(&pg, "Número", "Number"), T(&pg, "Abierta (UTC)", "Opened (UTC)"), T(&pg, "Estado", "State"),
               T(&pg, "Concepto", "Concept"), T(&pg, "Oficina", "Office"), T(&pg, "Correo", "Email"),
               T(&pg, "Asignada a", "Assignee"), T(&pg, "Descripción", "Description"));
    }
    for (int i = 0; i < n; i++) {
        const char *num = PQgetvalue(r, i, 0);
        wb_raw(b, "<tr><th scope=\"row\"><a href=\"/helpdesk/tickets/");
        wb_url(b, num);
        wb_raw(b, "\">");
        wb_esc(b, num);
        wb_raw(b, "</a></th><td>");
        wb_esc(b, PQgetvalue(r, i, 7));
        wb_fmt(b, "</td><td class=\"state %s\">", PQgetvalue(r, i, 1));
        wb_esc(b, hdp_state_label(pg.en, PQgetvalue(r, i, 1)));
        wb_raw(b, "</td><td>");
        wb_esc(b, hdp_concept_label(pg.en, PQgetvalue(r, i, 2)));
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 5));
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 4));
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 6));
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 3));
        wb_raw(b, "</td></tr>\n");
    }
    if (n > 0)
        wb_raw(b, "</tbody></table></div>\n");
    else if (f->page > 1) { /* past the last page: the window count is not known here */
        wb_fmt(b, "<p>%s <a href=\"/helpdesk?page=1",
               T(&pg, "Esta página está vacía.", "This page is empty."));
        filter_query(b, f);
        wb_fmt(b, "\">%s</a></p>\n", T(&pg, "Ir a la primera página", "Go to the first page"));
    } else
        wb_fmt(b, "<p>%s</p>\n",
               T(&pg, "Ninguna incidencia coincide con los filtros.", "No ticket matches the filters."));
    long pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    if (pages > 1) {
        wb_fmt(b, "<nav class=\"pages\" aria-label=\"%s\"><ul>", T(&pg, "Páginas", "Pages"));
        if (f->page > 1) {
            wb_fmt(b, "<li><a rel=\"prev\" href=\"/helpdesk?page=%ld", f->page - 1);
            filter_query(b, f);
            wb_fmt(b, "\">%s</a></li>", T(&pg, "Más recientes", "Newer"));
        }
        wb_fmt(b, "<li>%s %ld / %ld</li>", T(&pg, "Página", "Page"), f->page, pages);
        if (f->page < pages && f->page < MAX_PAGE) {
            wb_fmt(b, "<li><a rel=\"next\" href=\"/helpdesk?page=%ld", f->page + 1);
            filter_query(b, f);
            wb_fmt(b, "\">%s</a></li>", T(&pg, "Más antiguas", "Older"));
        }
        wb_raw(b, "</ul></nav>\n");
    }
    web_page_send(&pg, 200);
}

static void list_query(h2o_req_t *req, const struct web_ref *ref, void *ctx)
{
    (void)ref; /* the cache is read again when rendering (web_ref_now) */
    struct console *h = ctx;
    const struct filters *f = h->ctx;
    const char *v[] = {f->status, f->concept, f->office, f->from, f->to, f->q, f->offset_s};
    console_query(
        req, h,
        "SELECT t.number, t.state, t.concept, left(t.description, 120), t.citizen_email, t.office_code, "
        "coalesce(a.full_name, ''), to_char(t.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
        "count(*) OVER () FROM tickets t LEFT JOIN accounts a ON a.id = t.assignee_id "
        "WHERE ($1::text IS NULL OR t.state = $1) AND ($2::text IS NULL OR t.concept = $2) "
        "AND ($3::text IS NULL OR t.office_code = $3) "
        "AND ($4::date IS NULL OR t.opened_at >= $4::date::timestamp AT TIME ZONE 'UTC') "
        "AND ($5::date IS NULL OR t.opened_at < ($5::date + 1)::timestamp AT TIME ZONE 'UTC') "
        "AND ($6::text IS NULL OR strpos(lower(t.number || ' ' || t.description || ' ' || "
        "coalesce(t.citizen_email, '') || ' ' || coalesce(t.appointment_code, '')), lower($6)) > 0) "
        "ORDER BY t.id DESC LIMIT 50 OFFSET $7::int",
        7, v, list_render);
}

static void list_session(h2o_req_t *req, struct console *h)
{
    web_with_ref(req, list_query, h);
}

void web_on_helpdesk(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct filters *f = h2o_mem_alloc_pool(&req->pool, sizeof(*f));
    memset(f, 0, sizeof(*f));
    int bad = 0;
    f->status = opt(req, "status", 16, &bad);
    f->concept = opt(req, "concept", 32, &bad);
    f->office = opt(req, "office", AUTH_OFFICE_MAX, &bad);
    f->from = opt(req, "from", 10, &bad);
    f->to = opt(req, "to", 10, &bad);
    f->q = opt(req, "q", 200, &bad);
    const char *page = opt(req, "page", 6, &bad);
    char *end = NULL;
    f->page = page != NULL ? strtol(page, &end, 10) : 1;
    if (bad || (f->status != NULL && !hdp_in(hdp_states, f->status)) ||
        (f->concept != NULL && !hdp_in(hdp_concepts, f->concept)) ||
        (f->office != NULL && !auth_office_code_valid(f->office, strlen(f->office))) ||
        (f->from != NULL && !console_date_ok(f->from)) || (f->to != NULL && !console_date_ok(f->to)) ||
        (page != NULL && (end == page || *end != '\0')) || f->page < 1 || f->page > MAX_PAGE) {
        hdp_bad_request(req, "Revise los filtros: estado, concepto, oficina, fechas (AAAA-MM-DD) o página.",
                        "Please check the filters: state, concept, office, dates (YYYY-MM-DD) or page.");
        return;
    }
    snprintf(f->page_s, sizeof(f->page_s), "%ld", f->page);
    snprintf(f->offset_s, sizeof(f->offset_s), "%ld", (f->page - 1) * PAGE_SIZE);
    hdp_require(req, HDP_HELPDESK_ROLES, list_session, f);
}

/* ============================== /helpdesk/stats ============================== */

struct range {
    const char *from, *to;
};

/* Horizontal bars (label, count) in an SVG with a text alternative in the table next to it. */
static void hbars(struct web_page *pg, const char *id, const char *title, const char **labels,
                  const long *counts, int n)
{
    long max = 1;
    for (int i = 0; i < n; i++)
        if (counts[i] > max)
            max = counts[i];
    int row = 26, h = row * (n > 0 ? n : 1) + 4;
    wb_fmt(&pg->b, "<svg class=\"chart\" id=\"%s\" role=\"img\" aria-label=\"", id);
    wb_esc(&pg->b, title);
    wb_fmt(&pg->b, "\" viewBox=\"0 0 640 %d\" width=\"640\" height=\"%d\">", h, h);
    for (int i = 0; i < n; i++) {
        int w = (int)(counts[i] * 360 / max);
        wb_fmt(&pg->b, "<g><title>");
        wb_esc(&pg->b, labels[i]);
        wb_fmt(&pg->b, ": %ld</title><text x=\"0\" y=\"%d\" class=\"label\">", counts[i], i * row + 18);
        wb_esc(&pg->b, labels[i]);
        wb_fmt(&pg->b,
               "</text><rect x=\"230\" y=\"%d\" width=\"%d\" height=\"18\" class=\"bar\"></rect>"
               "<text x=\"%d\" y=\"%d\" class=\"value\">%ld</text></g>",
               i * row + 4, w, 236 + w, i * row + 18, counts[i]);
    }
    wb_raw(&pg->b, "</svg>\n");
}

/* A table of the days with tickets: n columns of days' counts from column `first`, and the total (column 5).
 */
static void day_table(struct web_page *pg, const PGresult *days, const char *id, const char *caption,
                      const char **labels, int n, int first)
{
    struct wbuf *b = &pg->b;
    wb_fmt(b, "<h3 id=\"%s\">", id);
    wb_esc(b, caption);
    wb_fmt(b,
           "</h3>\n<div class=\"scroll\"><table class=\"counts days\" aria-labelledby=\"%s\"><thead><tr>"
           "<th scope=\"col\">%s</th>",
           id, T(pg, "Día", "Day"));
    for (int i = 0; i < n; i++) {
        wb_raw(b, "<th scope=\"col\">");
        wb_esc(b, labels[i]);
        wb_raw(b, "</th>");
    }
    wb_fmt(b, "<th scope=\"col\">%s</th></tr></thead><tbody>", T(pg, "Total", "Total"));
    int rows = 0;
    for (int i = PQntuples(days) - 1; i >= 0; i--) {
        if (strcmp(PQgetvalue(days, i, 5), "0") == 0)
            continue; /* quiet days show in the chart only */
        rows++;
        wb_raw(b, "<tr><th scope=\"row\">");
        wb_esc(b, PQgetvalue(days, i, 0));
        wb_raw(b, "</th>");
        for (int c = first; c < first + n; c++) {
            wb_raw(b, "<td>");
            wb_esc(b, PQgetvalue(days, i, c));
            wb_raw(b, "</td>");
        }
        wb_raw(b, "<td>");
        wb_esc(b, PQgetvalue(days, i, 5));
        wb_raw(b, "</td></tr>");
    }
    if (rows == 0)
        wb_fmt(b, "<tr><td colspan=\"%d\">%s</td></tr>", n + 2,
               T(pg, "Ninguna incidencia en el periodo.", "No tickets in the period."));
    wb_raw(b, "</tbody></table></div>\n");
}

/* Ticket counts by `what` ("concept" or "state"): rows (key, count) of r for every key of keys, zero
 * included, as a table and a bar chart. */
static void count_section(struct web_page *pg, const PGresult *r, const char *const *keys,
                          const char *(*label)(int, const char *), const char *what, const char *h_es,
                          const char *h_en, const char *col_es, const char *col_en, const char *chart_es,
                          const char *chart_en)
{
    struct wbuf *b = &pg->b;
    const char *labels[8];
    long counts[8];
    int n = 0;
    for (int i = 0; keys[i] != NULL && n < 8; i++, n++) {
        labels[n] = label(pg->en, keys[i]);
        counts[n] = 0;
        for (int k = 0; k < PQntuples(r); k++)
            if (strcmp(PQgetvalue(r, k, 0), keys[i]) == 0)
                counts[n] = strtol(PQgetvalue(r, k, 1), NULL, 10);
    }
    wb_fmt(b, "<h2 id=\"by-%s\">%s</h2>\n", what, T(pg, h_es, h_en));
    wb_fmt(b,
           "<table class=\"counts\" aria-labelledby=\"by-%s\"><thead><tr><th scope=\"col\">%s</th>"
           "<th scope=\"col\">%s</th></tr></thead><tbody>",
           what, T(pg, col_es, col_en), T(pg, "Incidencias", "Tickets"));
    for (int i = 0; i < n; i++) {
        wb_fmt(b, "<tr data-%s=\"%s\"><th scope=\"row\">", what, keys[i]);
        wb_esc(b, labels[i]);
        wb_fmt(b, "</th><td>%ld</td></tr>", counts[i]);
    }
    wb_raw(b, "</tbody></table>\n");
    struct wbuf id;
    wb_init(&id, &pg->req->pool, 16);
    wb_fmt(&id, "chart-%s", what);
    hbars(pg, id.p, T(pg, chart_es, chart_en), labels, counts, n);
}

static void stats_render(h2o_req_t *req, struct console *h, const PGresult *const *res, int nres)
{
    if (nres < 4) {
        console_unavailable(req);
        return;
    }
    const PGresult *range = res[0], *byc = res[1], *bys = res[2], *days = res[3];
    struct web_page pg;
    hdp_open(&pg, req, h, "Estadísticas de incidencias", "Ticket statistics", "stats");
    struct wbuf *b = &pg.b;
    const char *from = PQgetvalue(range, 0, 0), *to = PQgetvalue(range, 0, 1);
    wb_fmt(b, "<form class=\"filters\" method=\"get\" action=\"/helpdesk/stats\" aria-label=\"%s\">\n",
           T(&pg, "Periodo", "Period"));
    text_field(&pg, "date", "from", "Desde", "From", from);
    text_field(&pg, "date", "to", "Hasta", "To", to);
    wb_fmt(b, "<button type=\"submit\">%s</button>\n</form>\n", T(&pg, "Ver", "Show"));
    wb_fmt(b, "<p>%s ", T(&pg, "Incidencias abiertas del", "Tickets opened from"));
    wb_esc(b, from);
    wb_fmt(b, " %s ", T(&pg, "al", "to"));
    wb_esc(b, to);
    wb_fmt(b, " (UTC), %s.</p>\n", T(&pg, "con su estado actual", "with their current state"));

    count_section(&pg, byc, hdp_concepts, hdp_concept_label, "concept", "Por concepto", "By concept",
                  "Concepto", "Concept", "Incidencias por concepto", "Tickets by concept");
    count_section(&pg, bys, hdp_states, hdp_state_label, "state", "Por estado", "By state", "Estado", "State",
                  "Incidencias por estado", "Tickets by state");

    /* per day: a column chart of the day's tickets, and tables by state and by concept */
    int nd = PQntuples(days);
    long max = 1;
    for (int i = 0; i < nd; i++) {
        long v = strtol(PQgetvalue(days, i, 5), NULL, 10);
        if (v > max)
            max = v;
    }
    wb_fmt(b, "<h2 id=\"per-day\">%s</h2>\n", T(&pg, "Por día", "Per day"));
    int step = nd > 0 ? 640 / nd : 640;
    if (step < 2)
        step = 2;
    int width = step * (nd > 0 ? nd : 1);
    wb_fmt(b,
           "<svg class=\"chart\" id=\"chart-days\" role=\"img\" aria-label=\"%s\" viewBox=\"0 0 %d 200\" "
           "width=\"%d\" height=\"200\">",
           T(&pg, "Incidencias abiertas por día", "Tickets opened per day"), width, width);
    for (int i = 0; i < nd; i++) {
        long v = strtol(PQgetvalue(days, i, 5), NULL, 10);
        int hgt = (int)(v * 150 / max);
        wb_raw(b, "<g><title>");
        wb_esc(b, PQgetvalue(days, i, 0));
        wb_fmt(b, ": %ld</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"bar\"></rect></g>",
               v, i * step, 170 - hgt, step > 3 ? step - 1 : step, hgt);
    }
    wb_fmt(b,
           "<line x1=\"0\" y1=\"170\" x2=\"%d\" y2=\"170\" class=\"axis\"></line>"
           "<text x=\"0\" y=\"14\" class=\"label\">%s %ld</text>",
           width, T(&pg, "máx.", "max"), max);
    if (nd > 0) {
        wb_raw(b, "<text x=\"0\" y=\"190\" class=\"label\">");
        wb_esc(b, PQgetvalue(days, 0, 0));
        wb_fmt(b, "</text><text x=\"%d\" y=\"190\" class=\"label\" text-anchor=\"end\">", width);
        wb_esc(b, PQgetvalue(days, nd - 1, 0));
        wb_raw(b, "</text>");
    }
    wb_raw(b, "</svg>\n");
    const char *slabels[8], *clabels[8];
    for (int i = 0; hdp_states[i] != NULL; i++)
        slabels[i] = hdp_state_label(pg.en, hdp_states[i]);
    for (int i = 0; hdp_concepts[i] != NULL; i++)
        clabels[i] = hdp_concept_label(pg.en, hdp_concepts[i]);
    day_table(&pg, days, "days-state", T(&pg, "Por día y estado", "Per day and state"), slabels, 4, 1);
    day_table(&pg, days, "days-concept", T(&pg, "Por día y concepto", "Per day and concept"), clabels, 6, 6);
    web_page_send(&pg, 200);
}

#define RANGE_CTE                                                                                            \
    "WITH r AS (SELECT coalesce($1::date, coalesce($2::date, (now() AT TIME ZONE 'UTC')::date) - 29) AS f, " \
    "coalesce($2::date, (now() AT TIME ZONE 'UTC')::date) AS t) "
#define IN_RANGE                                                                                             \
    "tk.opened_at >= r.f::timestamp AT TIME ZONE 'UTC' AND tk.opened_at < (r.t + 1)::timestamp AT TIME "     \
    "ZONE "                                                                                                  \
    "'UTC'"

static void stats_session(h2o_req_t *req, struct console *h)
{
    const struct range *rg = h->ctx;
    struct pg_tx *tx = console_tx(req);
    const char *v[] = {rg->from, rg->to};
    if (tx != NULL) {
        pg_tx_add(tx, RANGE_CTE "SELECT r.f::text, r.t::text FROM r", 2, v);
        pg_tx_add(tx,
                  RANGE_CTE "SELECT tk.concept, count(*) FROM tickets tk, r WHERE " IN_RANGE " GROUP BY 1", 2,
                  v);
        pg_tx_add(tx, RANGE_CTE "SELECT tk.state, count(*) FROM tickets tk, r WHERE " IN_RANGE " GROUP BY 1",
                  2, v);
        pg_tx_add(tx,
                  RANGE_CTE
                  "SELECT to_char(d, 'YYYY-MM-DD'), count(tk.id) FILTER (WHERE tk.state = 'abierto'), "
                  "count(tk.id) FILTER (WHERE tk.state = 'en_proceso'), "
                  "count(tk.id) FILTER (WHERE tk.state = 'resuelto'), "
                  "count(tk.id) FILTER (WHERE tk.state = 'cerrado'), count(tk.id), "
                  "count(tk.id) FILTER (WHERE tk.concept = 'sin_codigo'), "
                  "count(tk.id) FILTER (WHERE tk.concept = 'sin_citas'), "
                  "count(tk.id) FILTER (WHERE tk.concept = 'error_portal'), "
                  "count(tk.id) FILTER (WHERE tk.concept = 'datos_incorrectos'), "
                  "count(tk.id) FILTER (WHERE tk.concept = 'cancelacion'), "
                  "count(tk.id) FILTER (WHERE tk.concept = 'otro') "
                  "FROM r, generate_series(r.f::timestamp, r.t::timestamp, interval '1 day') d "
                  "LEFT JOIN tickets tk ON tk.opened_at >= d AT TIME ZONE 'UTC' "
                  "AND tk.opened_at < (d + interval '1 day') AT TIME ZONE 'UTC' GROUP BY d ORDER BY d",
                  2, v);
    }
    console_commit(req, h, tx, stats_render);
}

static time_t day_of(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    return timegm(&tm);
}

void web_on_helpdesk_stats(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct range *rg = h2o_mem_alloc_pool(&req->pool, sizeof(*rg));
    int bad = 0;
    rg->from = opt(req, "from", 10, &bad);
    rg->to = opt(req, "to", 10, &bad);
    if (!bad &&
        ((rg->from != NULL && !console_date_ok(rg->from)) || (rg->to != NULL && !console_date_ok(rg->to))))
        bad = 1;
    if (!bad && rg->from != NULL && rg->to != NULL &&
        (day_of(rg->from) > day_of(rg->to) || (day_of(rg->to) - day_of(rg->from)) / 86400 >= MAX_DAYS))
        bad = 1;
    if (!bad && rg->from != NULL && rg->to == NULL) {
        time_t now = time(NULL);
        if (day_of(rg->from) > now || (now - day_of(rg->from)) / 86400 >= MAX_DAYS)
            bad = 1;
    }
    if (bad) {
        hdp_bad_request(
            req,
            "Revise el periodo: fechas AAAA-MM-DD, la primera no posterior a la segunda, a lo sumo "
            "un año.",
            "Please check the period: dates YYYY-MM-DD, the first not after the second, at most a year.");
        return;
    }
    hdp_require(req, HDP_HELPDESK_ROLES, stats_session, rg);
}
