/*
 * GET /staff/offices/{code}/settings: the procedures the office offers, its working hours and holidays.
 * The office's consular_admin and sysadmin get forms (the office-settings API: PUT procedures, PUT hours,
 * POST and DELETE holidays); consular_staff read them.
 */
#include "staff_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTERVALS 2 /* working-hour intervals shown per weekday */

static const char sql_procs[] =
    "SELECT p.code, p.name_es, p.name_en, p.duration_min, op.office_code IS NOT NULL FROM procedures p"
    " LEFT JOIN office_procedures op ON op.procedure_code = p.code AND op.office_code = $1 ORDER BY p.code";
static const char sql_hours[] = "SELECT weekday, to_char(opens, 'HH24:MI'), to_char(closes, 'HH24:MI')"
                                " FROM office_hours WHERE office_code = $1 ORDER BY weekday, opens";
static const char sql_holidays[] =
    "SELECT h.day::text, h.name FROM office_holidays h JOIN offices o ON o.code = h.office_code"
    " WHERE h.office_code = $1 AND h.day >= (now() AT TIME ZONE o.time_zone)::date - 31 ORDER BY h.day LIMIT "
    "400";

static const char *const done_settings[] = {
    "procedures",
    "Trámites guardados.",
    "Procedures saved.",
    "hours",
    "Horario guardado.",
    "Working hours saved.",
    "holiday_added",
    "Día festivo añadido.",
    "Holiday added.",
    "holiday_removed",
    "Día festivo quitado.",
    "Holiday removed.",
    NULL,
};

static const char *const days_es[] = {"lunes",   "martes", "miércoles", "jueves",
                                      "viernes", "sábado", "domingo"};
static const char *const days_en[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                      "Friday", "Saturday", "Sunday"};

static const char *api_of(h2o_req_t *req, struct console *s, const char *tail)
{
    struct wbuf w;
    wb_init(&w, &req->pool, 96);
    wb_raw(&w, "/api/v1/admin/offices/");
    wb_url(&w, s->office);
    wb_raw(&w, tail);
    return w.p;
}

static const char *next_of(h2o_req_t *req, struct console *s, const char *done)
{
    struct wbuf w;
    wb_init(&w, &req->pool, 96);
    wb_raw(&w, "/staff/offices/");
    wb_url(&w, s->office);
    wb_raw(&w, "/settings?done=");
    wb_raw(&w, done);
    return w.p;
}

static void procedures(struct web_page *pg, struct console *s, const PGresult *r)
{
    struct wbuf *b = &pg->b;
    wb_fmt(b, "<section aria-labelledby=\"procs-h\"><h2 id=\"procs-h\">%s</h2>\n",
           T(pg, "Trámites que ofrece", "Procedures offered"));
    int n = PQntuples(r);
    if (!s->can_write_settings) {
        wb_raw(b, "<ul id=\"procedures-offered\">");
        for (int i = 0; i < n; i++)
            if (strcmp(PQgetvalue(r, i, 4), "t") == 0) {
                wb_raw(b, "<li>");
                wb_esc(b, PQgetvalue(r, i, pg->en ? 2 : 1));
                wb_raw(b, "</li>");
            }
        wb_raw(b, "</ul></section>\n");
        return;
    }
    stp_form(pg, api_of(pg->req, s, "/procedures"), "PUT", next_of(pg->req, s, "procedures"),
             "procedures-form", NULL, NULL, NULL);
    wb_fmt(b, "<fieldset><legend>%s</legend>\n",
           T(pg, "Marque los trámites de la oficina", "Tick the office's procedures"));
    for (int i = 0; i < n; i++) {
        const char *code = PQgetvalue(r, i, 0);
        wb_raw(b, "<div class=\"field check\"><input type=\"checkbox\" name=\"procedures\" "
                  "data-type=\"checks\" id=\"proc-");
        wb_esc(b, code);
        wb_raw(b, "\" value=\"");
        wb_esc(b, code);
        wb_raw(b, strcmp(PQgetvalue(r, i, 4), "t") == 0 ? "\" checked><label for=\"proc-"
                                                        : "\"><label for=\"proc-");
        wb_esc(b, code);
        wb_raw(b, "\">");
        wb_esc(b, PQgetvalue(r, i, pg->en ? 2 : 1));
        wb_fmt(b, " <small>(%s min)</small></label></div>\n", PQgetvalue(r, i, 3));
    }
    wb_fmt(b, "</fieldset><button type=\"submit\">%s</button></form></section>\n",
           T(pg, "Guardar trámites", "Save procedures"));
}

static void hours(struct web_page *pg, struct console *s, const PGresult *r)
{
    struct wbuf *b = &pg->b;
    char opens[7][INTERVALS][6], closes[7][INTERVALS][6];
    memset(opens, 0, sizeof(opens));
    memset(closes, 0, sizeof(closes));
    int used[7] = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        int wd = atoi(PQgetvalue(r, i, 0)) - 1;
        if (wd < 0 || wd > 6 || used[wd] >= INTERVALS)
            continue;
        snprintf(opens[wd][used[wd]], 6, "%s", PQgetvalue(r, i, 1));
        snprintf(closes[wd][used[wd]], 6, "%s", PQgetvalue(r, i, 2));
        used[wd]++;
    }
    wb_fmt(b, "<section aria-labelledby=\"hours-h\"><h2 id=\"hours-h\">%s</h2>\n",
           T(pg, "Horario de atención", "Working hours"));
    if (s->can_write_settings) {
        stp_form(pg, api_of(pg->req, s, "/hours"), "PUT", next_of(pg->req, s, "hours"), "hours-form", NULL,
                 NULL, NULL);
        wb_fmt(b, "<p class=\"hint\">%s</p>\n",
               T(pg, "Hasta dos turnos por día; deje vacío un turno que no hay.",
                 "Up to two shifts a day; leave a shift empty when there is none."));
    }
    wb_fmt(b, "<table class=\"staff-table hours\" id=\"hours\"><thead><tr><th scope=\"col\">%s</th>",
           T(pg, "Día", "Day"));
    for (int k = 0; k < INTERVALS; k++)
        wb_fmt(b, "<th scope=\"col\">%s %d</th>", T(pg, "Turno", "Shift"), k + 1);
    wb_raw(b, "</tr></thead><tbody>\n");
    for (int wd = 0; wd < 7; wd++) {
        const char *dn = pg->en ? days_en[wd] : days_es[wd];
        wb_fmt(b, "<tr><th scope=\"row\">%s</th>", dn);
        for (int k = 0; k < INTERVALS; k++) {
            if (!s->can_write_settings) {
                if (opens[wd][k][0] != '\0')
                    wb_fmt(b, "<td>%s–%s</td>", opens[wd][k], closes[wd][k]);
                else
                    wb_raw(b, "<td>—</td>");
                continue;
            }
            wb_fmt(
                b,
                "<td data-hours-row data-weekday=\"%d\"><label for=\"o%d%d\">%s<span class=\"sr-only\"> %s "
                "%d</span>"
                "</label> <input type=\"time\" id=\"o%d%d\" data-part=\"opens\" value=\"%s\"> "
                "<label for=\"c%d%d\">%s<span class=\"sr-only\"> %s %d</span></label> <input type=\"time\" "
                "id=\"c%d%d\" data-part=\"closes\" value=\"%s\"></td>",
                wd + 1, wd, k, T(pg, "abre", "opens"), dn, k + 1, wd, k, opens[wd][k], wd, k,
                T(pg, "cierra", "closes"), dn, k + 1, wd, k, closes[wd][k]);
        }
        wb_raw(b, "</tr>\n");
    }
    wb_raw(b, "</tbody></table>\n");
    if (s->can_write_settings)
        wb_fmt(b, "<button type=\"submit\">%s</button></form>\n",
               T(pg, "Guardar horario", "Save working hours"));
    wb_raw(b, "</section>\n");
}

static void holidays(struct web_page *pg, struct console *s, const PGresult *r)
{
    struct wbuf *b = &pg->b;
    wb_fmt(b, "<section aria-labelledby=\"hol-h\"><h2 id=\"hol-h\">%s</h2>\n",
           T(pg, "Días festivos", "Holidays"));
    int n = PQntuples(r);
    if (n == 0)
        wb_fmt(b, "<p>%s</p>\n", T(pg, "No hay días festivos registrados.", "No holidays recorded."));
    else
        wb_raw(b, "<ul class=\"holidays\" id=\"holidays\">\n");
    for (int i = 0; i < n; i++) {
        const char *day = PQgetvalue(r, i, 0);
        wb_raw(b, "<li data-day=\"");
        wb_esc(b, day);
        wb_raw(b, "\"><span>");
        wb_esc(b, day);
        wb_raw(b, " · ");
        wb_esc(b, PQgetvalue(r, i, 1));
        wb_raw(b, "</span> ");
        if (s->can_write_settings) {
            struct wbuf tail;
            wb_init(&tail, &pg->req->pool, 32);
            wb_raw(&tail, "/holidays/");
            wb_url(&tail, day);
            stp_form(pg, api_of(pg->req, s, tail.p), "DELETE", next_of(pg->req, s, "holiday_removed"),
                     "inline", NULL, NULL, NULL);
            wb_fmt(b, "<button type=\"submit\" class=\"secondary\">%s<span class=\"sr-only\"> ",
                   T(pg, "Quitar", "Remove"));
            wb_esc(b, day);
            wb_raw(b, "</span></button></form>");
        }
        wb_raw(b, "</li>\n");
    }
    if (n > 0)
        wb_raw(b, "</ul>\n");
    if (s->can_write_settings) {
        stp_form(pg, api_of(pg->req, s, "/holidays"), "POST", next_of(pg->req, s, "holiday_added"),
                 "holiday-form", NULL, NULL, NULL);
        wb_fmt(
            b,
            "<div class=\"field\"><label for=\"holiday-day\">%s</label><input id=\"holiday-day\" "
            "name=\"day\" "
            "type=\"date\" required></div><div class=\"field\"><label for=\"holiday-name\">%s</label><input "
            "id=\"holiday-name\" name=\"name\" type=\"text\" required maxlength=\"200\"></div>"
            "<button type=\"submit\">%s</button></form>\n",
            T(pg, "Día festivo", "Holiday"), T(pg, "Motivo", "Name"),
            T(pg, "Añadir día festivo", "Add holiday"));
    }
    wb_raw(b, "</section>\n");
}

static void render(h2o_req_t *req, struct console *s, const PGresult *const *res, int nres)
{
    if (nres != 3) {
        console_unavailable(req);
        return;
    }
    const struct web_office *o = web_ref_office(web_ref_now(req), s->office, strlen(s->office));
    struct web_page pg;
    stp_open(&pg, req, s, "Ajustes de la oficina", "Office settings", "settings");
    struct wbuf *b = &pg.b;
    stp_done_notice(&pg, done_settings);
    if (o != NULL) {
        wb_fmt(b, "<p>%s: ", T(&pg, "Zona horaria", "Time zone"));
        wb_esc(b, o->tz);
        wb_raw(b, " · ");
        wb_esc(b, o->address);
        wb_raw(b, ", ");
        wb_esc(b, o->city);
        wb_raw(b, "</p>\n");
    }
    if (!s->can_write_settings)
        wb_fmt(b, "<p class=\"notice\">%s</p>\n",
               T(&pg, "Solo la administración consular de la oficina puede cambiar estos ajustes.",
                 "Only the office's consular administrators can change these settings."));
    procedures(&pg, s, res[0]);
    hours(&pg, s, res[1]);
    holidays(&pg, s, res[2]);
    web_page_send(&pg, 200);
}

static void query(h2o_req_t *req, struct console *s)
{
    struct pg_tx *tx = console_tx(req);
    const char *v[] = {s->office};
    if (tx != NULL) {
        pg_tx_add(tx, sql_procs, 1, v);
        pg_tx_add(tx, sql_hours, 1, v);
        pg_tx_add(tx, sql_holidays, 1, v);
    }
    console_commit(req, s, tx, render);
}

void web_on_staff_settings(h2o_req_t *req, const struct server_params *p)
{
    stp_require(req, STP_OFFICE, &p->v[0], query, NULL);
}
