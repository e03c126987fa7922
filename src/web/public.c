/* The public pages: the office finder (home), an office, and the availability calendar. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void unavailable(h2o_req_t *req)
{
    web_page_message(req, 503, "Servicio no disponible", "Service unavailable",
                     "No podemos mostrar las oficinas en este momento. Intente de nuevo en unos segundos.",
                     "We cannot show the offices right now. Please try again in a few seconds.");
}

static void not_found(h2o_req_t *req)
{
    web_page_message(req, 404, "Página no encontrada", "Page not found",
                     "No existe esta oficina o este trámite. Elija una oficina en la página de inicio.",
                     "There is no such office or procedure. Choose an office on the start page.");
}

static const char *oname(const struct web_page *pg, const struct web_office *o)
{
    return pg->en ? o->name_en : o->name_es;
}

static const char *pname(const struct web_page *pg, const struct web_proc *p)
{
    return pg->en ? p->name_en : p->name_es;
}

/* A notice from a query flag set by the pages' script after an action (?deleted=1, ?bye=1). */
static void flags(struct web_page *pg)
{
    if (server_query(pg->req, "deleted", NULL) != NULL)
        wb_fmt(&pg->b, "<p class=\"notice\" role=\"status\">%s</p>\n",
               T(pg, "Su cuenta fue eliminada y sus citas activas, canceladas.",
                 "Your account was deleted and your active appointments cancelled."));
    if (server_query(pg->req, "bye", NULL) != NULL)
        wb_fmt(&pg->b, "<p class=\"notice\" role=\"status\">%s</p>\n",
               T(pg, "Cerró su sesión.", "You are logged out."));
}

/* --- home --- */

/* Countries for the <select>, sorted by their name in the page's language without accents. */
struct country {
    const struct web_office *o;
    const char *key;
};

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct country *)a)->key, ((const struct country *)b)->key);
}

static void home(h2o_req_t *req, const struct web_ref *ref, void *ctx)
{
    (void)ctx;
    if (ref == NULL) {
        unavailable(req);
        return;
    }
    struct web_page pg;
    int en = web_lang_en(req);
    web_page_open(&pg, req, en ? "Book a consular appointment" : "Reserve una cita consular", NULL, 0, NULL);
    struct wbuf *b = &pg.b;
    flags(&pg);
    const char *q = web_query(req, "q", 100);
    const char *country = web_query(req, "country", 2);
    char *qf = q != NULL && q[0] != '\0' ? web_fold(&req->pool, q, strlen(q)) : NULL;
    if (country != NULL && country[0] == '\0')
        country = NULL;

    wb_fmt(b, "<p>%s</p>\n",
           T(&pg,
             "1. Elija la oficina consular. 2. Elija el trámite y vea qué documentos llevar. "
             "3. Elija día y hora. Las citas son gratuitas.",
             "1. Choose the consular office. 2. Choose the procedure and see which documents to "
             "bring. 3. Choose a day and time. Appointments are free."));
    wb_fmt(b, "<section aria-labelledby=\"find\"><h2 id=\"find\">%s</h2>\n",
           T(&pg, "Buscar oficina", "Search office"));
    wb_raw(b, "<form class=\"search\" method=\"get\" action=\"/\" role=\"search\">\n");
    wb_fmt(b, "<div class=\"field\"><label for=\"q\">%s</label>", T(&pg, "Buscar oficina", "Search office"));
    wb_raw(b, "<input type=\"search\" id=\"q\" name=\"q\" maxlength=\"100\" value=\"");
    wb_esc(b, q);
    wb_fmt(b, "\" aria-describedby=\"q-hint\"><p class=\"hint\" id=\"q-hint\">%s</p></div>\n",
           T(&pg, "Ciudad, país o nombre de la oficina.", "City, country or office name."));
    wb_fmt(b,
           "<div class=\"field\"><label for=\"country\">%s</label><select id=\"country\" name=\"country\">",
           T(&pg, "País", "Country"));
    wb_fmt(b, "<option value=\"\">%s</option>", T(&pg, "Todos los países", "All countries"));
    struct country *cs = h2o_mem_alloc_pool(&req->pool, sizeof(*cs) * (ref->noffices + 1));
    size_t nc = 0;
    for (size_t i = 0; i < ref->noffices; i++) {
        const struct web_office *o = &ref->offices[i];
        int seen = 0;
        for (size_t j = 0; j < nc && !seen; j++)
            seen = strcmp(cs[j].o->country, o->country) == 0;
        if (seen)
            continue;
        const char *name = pg.en ? o->country_en : o->country_es;
        cs[nc].o = o;
        cs[nc++].key = web_fold(&req->pool, name, strlen(name));
    }
    qsort(cs, nc, sizeof(*cs), by_key);
    for (size_t i = 0; i < nc; i++) {
        const struct web_office *o = cs[i].o;
        wb_raw(b, "<option value=\"");
        wb_esc(b, o->country);
        wb_raw(b, country != NULL && strcasecmp(country, o->country) == 0 ? "\" selected>" : "\">");
        wb_esc(b, pg.en ? o->country_en : o->country_es);
        wb_raw(b, "</option>");
    }
    wb_fmt(b, "</select></div>\n<button type=\"submit\">%s</button>\n</form>\n", T(&pg, "Buscar", "Search"));

    struct wbuf list;
    wb_init(&list, &req->pool, 8192);
    size_t count = 0;
    const char *last_country = "";
    for (size_t i = 0; i < ref->noffices; i++) {
        const struct web_office *o = &ref->offices[i];
        if ((country != NULL && strcasecmp(country, o->country) != 0) ||
            (qf != NULL && strstr(o->search, qf) == NULL))
            continue;
        if (strcmp(last_country, o->country) != 0) {
            if (count > 0)
                wb_raw(&list, "</ul>\n");
            wb_raw(&list, "<h3>");
            wb_esc(&list, pg.en ? o->country_en : o->country_es);
            wb_raw(&list, "</h3>\n<ul class=\"offices\">");
            last_country = o->country;
        }
        wb_raw(&list, "<li><a href=\"/offices/");
        wb_url(&list, o->code);
        wb_raw(&list, "\">");
        wb_esc(&list, oname(&pg, o));
        wb_raw(&list, "</a> <span class=\"muted\">");
        wb_esc(&list, o->city);
        wb_raw(&list, "</span></li>");
        count++;
    }
    if (count > 0)
        wb_raw(&list, "</ul>\n");
    wb_fmt(b, "<h2 id=\"results\">%s</h2>\n<p role=\"status\">", T(&pg, "Oficinas", "Offices"));
    if (count == 0)
        wb_raw(b, T(&pg, "Ninguna oficina coincide con su búsqueda.", "No office matches your search."));
    else
        wb_fmt(b, T(&pg, "%zu oficinas.", "%zu offices."), count);
    wb_raw(b, "</p>\n");
    wb_rawn(b, list.p, list.len);
    wb_raw(b, "</section>\n");

    wb_fmt(b, "<section aria-labelledby=\"procs\"><h2 id=\"procs\">%s</h2>\n",
           T(&pg, "Trámites y qué llevar", "Procedures and what to bring"));
    for (size_t i = 0; i < ref->nprocs; i++) {
        const struct web_proc *p = &ref->procs[i];
        wb_raw(b, "<details><summary>");
        wb_esc(b, pname(&pg, p));
        wb_raw(b, "</summary>");
        web_doc_list(b, pg.en ? p->docs_en : p->docs_es);
        wb_raw(b, "</details>\n");
    }
    wb_raw(b, "</section>\n");
    web_page_send(&pg, 200);
}

void web_on_home(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    web_with_ref(req, home, NULL);
}

/* --- an office --- */

struct office_ctx {
    char code[40], proc[48];
    const char *reschedule; /* appointment code being moved, or NULL */
};

static void office_facts(struct web_page *pg, const struct web_office *o)
{
    struct wbuf *b = &pg->b;
    wb_fmt(b, "<dl class=\"facts\"><dt>%s</dt><dd>", T(pg, "Dirección", "Address"));
    wb_esc(b, o->address);
    wb_raw(b, ", ");
    wb_esc(b, o->city);
    wb_fmt(b, "</dd><dt>%s</dt><dd>", T(pg, "Zona horaria", "Time zone"));
    wb_esc(b, o->tz);
    wb_raw(b, "</dd>");
    if (o->phone[0] != '\0') {
        wb_fmt(b, "<dt>%s</dt><dd>", T(pg, "Teléfono", "Phone"));
        wb_esc(b, o->phone);
        wb_raw(b, "</dd>");
    }
    if (o->email[0] != '\0') {
        wb_raw(b, "<dt>Email</dt><dd>");
        wb_esc(b, o->email);
        wb_raw(b, "</dd>");
    }
    wb_raw(b, "</dl>\n");
}

static void office(h2o_req_t *req, const struct web_ref *ref, void *ctx)
{
    struct office_ctx *oc = ctx;
    if (ref == NULL) {
        unavailable(req);
        return;
    }
    const struct web_office *o = web_ref_office(ref, oc->code, strlen(oc->code));
    if (o == NULL) {
        not_found(req);
        return;
    }
    struct web_page pg;
    int en = web_lang_en(req);
    web_page_open(&pg, req, en ? o->name_en : o->name_es, NULL, 0, NULL);
    struct wbuf *b = &pg.b;
    office_facts(&pg, o);
    wb_fmt(b, "<h2>%s</h2>\n", T(&pg, "Trámites", "Procedures"));
    if (o->nprocs == 0)
        wb_fmt(b, "<p>%s</p>\n",
               T(&pg, "Esta oficina no ofrece trámites con cita.",
                 "This office offers no procedures by appointment."));
    for (size_t i = 0; i < o->nprocs; i++) {
        const struct web_proc *p = &ref->procs[o->procs[i]];
        wb_raw(b, "<section class=\"card\"><h3>");
        wb_esc(b, pname(&pg, p));
        wb_fmt(b, "</h3><p class=\"muted\">%s: %d min</p><h4>%s</h4>", T(&pg, "Duración", "Duration"),
               p->duration_min, T(&pg, "Qué llevar", "What to bring"));
        web_doc_list(b, pg.en ? p->docs_en : p->docs_es);
        wb_raw(b, "<p><a class=\"button\" href=\"/offices/");
        wb_url(b, o->code);
        wb_raw(b, "/");
        wb_url(b, p->code);
        wb_fmt(b, "\">%s<span class=\"sr-only\">: ", T(&pg, "Ver fechas disponibles", "See available dates"));
        wb_esc(b, pname(&pg, p));
        wb_raw(b, "</span></a></p></section>\n");
    }
    web_page_send(&pg, 200);
}

static int copy_param(const struct server_params *p, size_t i, char *out, size_t cap)
{
    if (p->n <= i || p->v[i].len == 0 || p->v[i].len >= cap)
        return -1;
    for (size_t k = 0; k < p->v[i].len; k++) {
        char c = p->v[i].base[k];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return -1;
    }
    memcpy(out, p->v[i].base, p->v[i].len);
    out[p->v[i].len] = '\0';
    return 0;
}

void web_on_office(h2o_req_t *req, const struct server_params *p)
{
    struct office_ctx *oc = h2o_mem_alloc_pool(&req->pool, sizeof(*oc));
    memset(oc, 0, sizeof(*oc));
    if (copy_param(p, 0, oc->code, sizeof(oc->code)) != 0) {
        not_found(req);
        return;
    }
    web_with_ref(req, office, oc);
}

/* --- the availability calendar (filled by the script from the availability JSON) --- */

static void calendar(h2o_req_t *req, const struct web_ref *ref, void *ctx)
{
    struct office_ctx *oc = ctx;
    if (ref == NULL) {
        unavailable(req);
        return;
    }
    const struct web_office *o = web_ref_office(ref, oc->code, strlen(oc->code));
    const struct web_proc *pr = web_ref_proc(ref, oc->proc, strlen(oc->proc));
    if (o == NULL || pr == NULL || !web_office_offers(ref, o, pr)) {
        not_found(req);
        return;
    }
    struct web_page pg;
    int en = web_lang_en(req);
    struct wbuf title;
    wb_init(&title, &req->pool, 256);
    wb_raw(&title, en ? pr->name_en : pr->name_es);
    wb_raw(&title, " — ");
    wb_raw(&title, en ? o->name_en : o->name_es);
    web_page_open(&pg, req, title.p, NULL, 0, NULL);
    struct wbuf *b = &pg.b;
    if (oc->reschedule != NULL) {
        wb_fmt(b, "<p class=\"notice\" role=\"status\">%s <strong>",
               T(&pg, "Cambio de fecha de la cita", "Rescheduling appointment"));
        wb_esc(b, oc->reschedule);
        wb_fmt(b, "</strong>. %s</p>\n", T(&pg, "Elija la nueva fecha.", "Choose the new date."));
    }
    office_facts(&pg, o);
    wb_fmt(b, "<details><summary>%s</summary>", T(&pg, "Qué llevar", "What to bring"));
    web_doc_list(b, pg.en ? pr->docs_en : pr->docs_es);
    wb_raw(b, "</details>\n");
    wb_fmt(b, "<h2 id=\"avail-title\">%s</h2>\n",
           T(&pg, "Días y horas disponibles", "Available days and times"));
    wb_raw(b,
           "<div id=\"availability\" class=\"availability\" aria-labelledby=\"avail-title\" data-office=\"");
    wb_esc(b, o->code);
    wb_raw(b, "\" data-procedure=\"");
    wb_esc(b, pr->code);
    wb_raw(b, "\" data-tz=\"");
    wb_esc(b, o->tz);
    if (oc->reschedule != NULL) {
        wb_raw(b, "\" data-reschedule=\"");
        wb_esc(b, oc->reschedule);
    }
    wb_raw(b, "\">\n<p id=\"avail-status\" role=\"status\" aria-live=\"polite\">");
    wb_raw(b, T(&pg, "Cargando disponibilidad…", "Loading availability…"));
    wb_raw(b, "</p>\n<div id=\"avail-days\"></div>\n</div>\n<noscript><p>");
    wb_raw(b, T(&pg, "Para ver las fechas disponibles active JavaScript.",
                "Turn on JavaScript to see the available dates."));
    wb_raw(b, "</p></noscript>\n");
    web_page_send(&pg, 200);
}

void web_on_calendar(h2o_req_t *req, const struct server_params *p)
{
    struct office_ctx *oc = h2o_mem_alloc_pool(&req->pool, sizeof(*oc));
    memset(oc, 0, sizeof(*oc));
    if (copy_param(p, 0, oc->code, sizeof(oc->code)) != 0 ||
        copy_param(p, 1, oc->proc, sizeof(oc->proc)) != 0) {
        not_found(req);
        return;
    }
    const char *r = web_query(req, "reschedule", 10);
    if (r != NULL && strlen(r) == 10)
        oc->reschedule = r;
    web_with_ref(req, calendar, oc);
}
