/*
 * GET /staff/offices/{code}/agenda?date=YYYY-MM-DD (default: today in the office's zone): the day's
 * appointments, a check-in box (autofocus: a barcode or QR scanner types the receipt's code and Enter),
 * check-in, no-show and cancel per appointment (the admin API), a print stylesheet and the CSV from the
 * agenda API.
 */
#include "staff_page.h"

#include <stdio.h>
#include <string.h>

static const char sql_day[] =
    "SELECT d::text, (d - 1)::text, (d + 1)::text, d = (now() AT TIME ZONE o.time_zone)::date, o.time_zone"
    " FROM offices o, coalesce($2::date, (now() AT TIME ZONE o.time_zone)::date) AS d WHERE o.code = $1";
static const char sql_rows[] =
    "SELECT to_char(s.local_start, 'HH24:MI'), a.code, a.state, a.procedure_code, coalesce(acc.full_name, "
    "''),"
    " a.document_type, a.document_number, s.starts_at <= now(), a.seat"
    " FROM offices o JOIN slots s ON s.office_code = o.code"
    " JOIN appointments a ON a.slot_id = s.id AND a.state <> 'cancelled'"
    " LEFT JOIN accounts acc ON acc.id = a.account_id"
    " WHERE o.code = $1 AND s.local_start >= coalesce($2::date, (now() AT TIME ZONE o.time_zone)::date)"
    " AND s.local_start < coalesce($2::date, (now() AT TIME ZONE o.time_zone)::date) + 1"
    " ORDER BY s.local_start, a.seat";

static const char *const done_agenda[] = {
    "checked_in",
    "Llegada registrada: {code}.",
    "Checked in: {code}.",
    "no_show",
    "Marcada como ausente: {code}.",
    "Marked as no-show: {code}.",
    "cancelled",
    "Cita cancelada y ciudadano avisado: {code}.",
    "Appointment cancelled and citizen notified: {code}.",
    "day_cancelled",
    "El día quedó cancelado y se avisó a los ciudadanos.",
    "The day is cancelled and the citizens were notified.",
    NULL,
};

/* clang-format off */
static const char *const doc_labels[] = {
    "curp", "CURP", "CURP",
    "passport", "Pasaporte", "Passport",
    "consular_id", "Matrícula", "Consular ID",
    NULL,
};
/* clang-format on */

static const char *doc_label(int en, const char *type)
{
    return console_label(doc_labels, en, type);
}

static void action(struct web_page *pg, struct console *s, const char *date, const char *code,
                   const char *what, const char *method, const char *done, const char *cls,
                   const char *label_es, const char *label_en, const char *confirm_es, const char *confirm_en)
{
    struct wbuf api, next;
    wb_init(&api, &pg->req->pool, 96);
    wb_raw(&api, "/api/v1/admin/appointments/");
    wb_url(&api, code);
    wb_raw(&api, what);
    wb_init(&next, &pg->req->pool, 128);
    wb_raw(&next, "/staff/offices/");
    wb_url(&next, s->office);
    wb_fmt(&next, "/agenda?date=%s&done=%s&code=", date, done);
    wb_url(&next, code);
    int cancel = strcmp(method, "DELETE") == 0;
    if (cancel) { /* behind a disclosure: an optional reason, mailed to the citizen */
        wb_fmt(&pg->b, "<details class=\"cancel-appt\"><summary>%s…<span class=\"sr-only\"> ",
               T(pg, label_es, label_en));
        wb_esc(&pg->b, code);
        wb_raw(&pg->b, "</span></summary>");
    }
    stp_form(pg, api.p, method, next.p, "inline", NULL, confirm_es, confirm_en);
    if (cancel) {
        wb_raw(&pg->b, "<div class=\"field\"><label for=\"reason-");
        wb_esc(&pg->b, code);
        wb_fmt(&pg->b,
               "\">%s</label><input type=\"text\" name=\"reason\" maxlength=\"500\" data-type=\"optional\" "
               "id=\"reason-",
               T(pg, "Motivo (opcional; se envía al ciudadano)", "Reason (optional; sent to the citizen)"));
        wb_esc(&pg->b, code);
        wb_raw(&pg->b, "\"></div>");
    }
    wb_fmt(&pg->b, "<button type=\"submit\" class=\"%s\">%s<span class=\"sr-only\"> ", cls,
           T(pg, label_es, label_en));
    wb_esc(&pg->b, code);
    wb_raw(&pg->b, cancel ? "</span></button></form></details>" : "</span></button></form>");
}

static void render(h2o_req_t *req, struct console *s, const PGresult *const *res, int nres)
{
    if (nres != 2 || PQntuples(res[0]) != 1) {
        stp_not_found(req);
        return;
    }
    const PGresult *d = res[0], *r = res[1];
    const char *date = PQgetvalue(d, 0, 0), *prev = PQgetvalue(d, 0, 1), *next = PQgetvalue(d, 0, 2);
    int today = strcmp(PQgetvalue(d, 0, 3), "t") == 0;
    struct web_page pg;
    stp_open(&pg, req, s, "Agenda del día", "Day's agenda", "agenda");
    struct wbuf *b = &pg.b;
    char local[20];
    snprintf(local, sizeof(local), "%sT00:00", date);
    wb_raw(b, "<p class=\"agenda-day\"><strong id=\"agenda-date\" data-date=\"");
    wb_esc(b, date);
    wb_raw(b, "\">");
    struct wbuf day;
    wb_init(&day, &req->pool, 64);
    web_fmt_local(&day, pg.en, local);
    wb_rawn(b, day.p, day.len > 7 ? day.len - 7 : day.len); /* without ", 00:00" */
    wb_raw(b, "</strong>");
    if (today)
        wb_fmt(b, " (%s)", T(&pg, "hoy", "today"));
    wb_raw(b, "</p>\n");
    stp_done_notice(&pg, done_agenda);

    /* the check-in box first: a scanner types into it */
    struct wbuf nx;
    wb_init(&nx, &req->pool, 128);
    wb_raw(&nx, "/staff/offices/");
    wb_url(&nx, s->office);
    wb_fmt(&nx, "/agenda?date=%s&done=checked_in&code={code}", date);
    stp_form(&pg, "/api/v1/admin/appointments/{code}/check-in", "POST", nx.p, "checkin-box no-print", NULL,
             NULL, NULL);
    wb_fmt(
        b,
        "<div class=\"field\"><label for=\"checkin-code\">%s</label><input id=\"checkin-code\" name=\"code\" "
        "type=\"text\" required autofocus autocomplete=\"off\" spellcheck=\"false\" "
        "autocapitalize=\"characters\" "
        "maxlength=\"40\" data-type=\"code\" aria-describedby=\"checkin-hint\"><p class=\"hint\" "
        "id=\"checkin-hint\">%s</p></div><button type=\"submit\">%s</button></form>\n",
        T(&pg, "Código de la cita", "Appointment code"),
        T(&pg, "Escriba o escanee el código del comprobante (QR) y pulse Intro.",
          "Type or scan the code on the receipt (QR) and press Enter."),
        T(&pg, "Registrar llegada", "Check in"));

    /* day navigation and the day's tools */
    wb_raw(b, "<div class=\"agenda-tools no-print\"><form method=\"get\" action=\"/staff/offices/");
    wb_url(b, s->office);
    wb_fmt(b,
           "/agenda\" class=\"inline\"><label for=\"agenda-day\">%s</label> <input id=\"agenda-day\" "
           "name=\"date\" "
           "type=\"date\" value=\"%s\" required> <button type=\"submit\" "
           "class=\"secondary\">%s</button></form>\n",
           T(&pg, "Día", "Day"), date, T(&pg, "Ver", "Show"));
    wb_raw(b, "<a rel=\"prev\" href=\"/staff/offices/");
    wb_url(b, s->office);
    wb_fmt(b, "/agenda?date=%s\">%s</a> <a rel=\"next\" href=\"/staff/offices/", prev,
           T(&pg, "← Día anterior", "← Previous day"));
    wb_url(b, s->office);
    wb_fmt(b, "/agenda?date=%s\">%s</a>\n", next, T(&pg, "Día siguiente →", "Next day →"));
    wb_fmt(b, "<button type=\"button\" class=\"secondary\" data-print>%s</button>\n",
           T(&pg, "Imprimir", "Print"));
    wb_raw(b, "<a class=\"button secondary\" download href=\"/api/v1/admin/offices/");
    wb_url(b, s->office);
    wb_fmt(b, "/agenda?date=%s&amp;format=csv\">%s</a>\n", date, T(&pg, "Descargar CSV", "Download CSV"));
    wb_raw(b, "<a class=\"button danger\" href=\"/staff/offices/");
    wb_url(b, s->office);
    wb_fmt(b, "/cancel-day?date=%s\">%s</a></div>\n", date, T(&pg, "Cancelar este día…", "Cancel this day…"));

    int n = PQntuples(r);
    if (n == 0) {
        wb_fmt(b, "<p id=\"agenda-empty\">%s</p>\n",
               T(&pg, "No hay citas este día.", "No appointments this day."));
        web_page_send(&pg, 200);
        return;
    }
    wb_fmt(
        b,
        "<div class=\"table-wrap\"><table class=\"staff-table\" id=\"agenda\"><caption>%s: "
        "%d</caption><thead><tr>"
        "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
        "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\" class=\"no-print\">%s</th></tr>"
        "</thead><tbody>\n",
        T(&pg, "Citas del día", "Appointments of the day"), n, T(&pg, "Hora", "Time"),
        T(&pg, "Código", "Code"), T(&pg, "Nombre", "Name"), T(&pg, "Documento", "Document"),
        T(&pg, "Trámite", "Procedure"), T(&pg, "Estado", "State"), T(&pg, "Acciones", "Actions"));
    for (int i = 0; i < n; i++) {
        const char *code = PQgetvalue(r, i, 1), *state = PQgetvalue(r, i, 2);
        int started = strcmp(PQgetvalue(r, i, 7), "t") == 0;
        wb_raw(b, "<tr data-code=\"");
        wb_esc(b, code);
        wb_raw(b, "\"><td>");
        wb_esc(b, PQgetvalue(r, i, 0));
        wb_raw(b, "</td><td class=\"code\">");
        wb_esc(b, code);
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 4));
        wb_raw(b, "</td><td>");
        wb_esc(b, doc_label(pg.en, PQgetvalue(r, i, 5)));
        wb_raw(b, " ");
        wb_esc(b, PQgetvalue(r, i, 6));
        wb_raw(b, "</td><td>");
        wb_esc(b, stp_proc_name(req, pg.en, PQgetvalue(r, i, 3)));
        wb_raw(b, "</td><td class=\"state\">");
        wb_esc(b, stp_state_label(pg.en, state));
        wb_raw(b, "</td><td class=\"no-print row-actions\">");
        if (strcmp(state, "active") == 0) {
            action(&pg, s, date, code, "/check-in", "POST", "checked_in", "", "Llegó", "Arrived", NULL, NULL);
            if (started)
                action(&pg, s, date, code, "/no-show", "POST", "no_show", "secondary", "No se presentó",
                       "No-show", NULL, NULL);
            action(&pg, s, date, code, "", "DELETE", "cancelled", "danger", "Cancelar cita",
                   "Cancel appointment", "¿Cancelar esta cita? Se avisará al ciudadano por correo.",
                   "Cancel this appointment? The citizen will be emailed.");
        }
        wb_raw(b, "</td></tr>\n");
    }
    wb_raw(b, "</tbody></table></div>\n");
    web_page_send(&pg, 200);
}

static void query(h2o_req_t *req, struct console *s)
{
    struct pg_tx *tx = console_tx(req);
    const char *v[] = {s->office, s->ctx};
    if (tx != NULL) {
        pg_tx_add(tx, sql_day, 2, v);
        pg_tx_add(tx, sql_rows, 2, v);
    }
    console_commit(req, s, tx, render);
}

void web_on_staff_agenda(h2o_req_t *req, const struct server_params *p)
{
    size_t len = 0;
    const char *date = NULL;
    if (server_query(req, "date", &len) != NULL && len > 0) {
        date = web_query(req, "date", 10);
        if (!console_date_ok(date)) {
            web_page_message(req, 400, "Fecha no válida", "Invalid date", "Elija un día (AAAA-MM-DD).",
                             "Choose a day (YYYY-MM-DD).");
            return;
        }
    }
    char *d = NULL;
    if (date != NULL) {
        d = h2o_mem_alloc_pool(&req->pool, 11);
        memcpy(d, date, 11);
    }
    stp_require(req, STP_OFFICE, &p->v[0], query, d);
}
