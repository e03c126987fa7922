/*
 * An office's calendar windows: GET /staff/offices/{code}/windows (seats offered and booked, close),
 * GET /staff/offices/{code}/windows/new (the form, with a preview of the slots it will create, both through
 * the windows API) and GET /staff/offices/{code}/cancel-day?date= (what cancelling that day does, and the
 * confirmed request to the day-cancel API).
 */
#include "staff_page.h"

#include <stdio.h>
#include <string.h>

/* ============================== the list ============================== */

static const char sql_windows[] =
    "SELECT w.id, w.procedure_code, w.first_day::text, w.last_day::text,"
    " to_char(w.release_at AT TIME ZONE o.time_zone, 'YYYY-MM-DD HH24:MI'), w.slot_minutes, w.seats_per_slot,"
    " w.state, coalesce(sum(s.capacity) FILTER (WHERE s.state = 'open'), 0),"
    " (SELECT count(*) FROM appointments a JOIN slots s2 ON s2.id = a.slot_id WHERE s2.window_id = w.id"
    "  AND a.state IN ('active', 'checked_in', 'no_show')),"
    " w.release_at <= now(), array_to_string(w.excluded_days, ', ')"
    " FROM calendar_windows w JOIN offices o ON o.code = w.office_code LEFT JOIN slots s ON s.window_id = "
    "w.id"
    " WHERE w.office_code = $1 GROUP BY w.id, o.time_zone ORDER BY w.first_day DESC, w.id DESC LIMIT 200";

static const char *const done_windows[] = {
    "created",
    "Ventana {code} creada: sus horarios ya están en el calendario.",
    "Window {code} created: its times are in the calendar now.",
    "closed",
    "La ventana quedó cerrada: ya no acepta reservas.",
    "The window is closed: it takes no more bookings.",
    NULL,
};

static void windows_render(h2o_req_t *req, struct console *s, const PGresult *const *res, int nres)
{
    (void)nres;
    struct web_page pg;
    stp_open(&pg, req, s, "Ventanas de citas", "Calendar windows", "windows");
    struct wbuf *b = &pg.b;
    stp_done_notice(&pg, done_windows);
    wb_raw(b, "<p class=\"actions\"><a class=\"button\" href=\"/staff/offices/");
    wb_url(b, s->office);
    wb_fmt(b, "/windows/new\">%s</a></p>\n", T(&pg, "Abrir una ventana nueva", "Open a new window"));
    const PGresult *r = res[0];
    int n = PQntuples(r);
    if (n == 0) {
        wb_fmt(b, "<p>%s</p>\n", T(&pg, "Esta oficina no tiene ventanas.", "This office has no windows."));
    } else {
        wb_fmt(
            b,
            "<div class=\"table-wrap\"><table class=\"staff-table\" "
            "id=\"windows\"><caption>%s</caption><thead><tr>"
            "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th><th "
            "scope=\"col\">%s</th>"
            "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th><th "
            "scope=\"col\">%s</th>"
            "<th scope=\"col\">%s</th></tr></thead><tbody>\n",
            T(&pg, "Ventanas de la oficina, las más recientes primero", "The office's windows, newest first"),
            T(&pg, "Nº", "No."), T(&pg, "Trámite", "Procedure"), T(&pg, "Fechas", "Dates"),
            T(&pg, "Apertura (hora local)", "Release (local time)"), T(&pg, "Horarios", "Times"),
            T(&pg, "Lugares ofrecidos", "Seats offered"), T(&pg, "Reservados", "Booked"),
            T(&pg, "Estado", "State"), T(&pg, "Acción", "Action"));
    }
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(r, i, 0), *state = PQgetvalue(r, i, 7), *ex = PQgetvalue(r, i, 11);
        wb_raw(b, "<tr data-window=\"");
        wb_esc(b, id);
        wb_raw(b, "\"><td>");
        wb_esc(b, id);
        wb_raw(b, "</td><td>");
        wb_esc(b, stp_proc_name(req, pg.en, PQgetvalue(r, i, 1)));
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 2));
        wb_raw(b, " – ");
        wb_esc(b, PQgetvalue(r, i, 3));
        if (ex[0] != '\0') {
            wb_fmt(b, "<br><small>%s ", T(&pg, "sin", "except"));
            wb_esc(b, ex);
            wb_raw(b, "</small>");
        }
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 4));
        if (strcmp(PQgetvalue(r, i, 10), "f") == 0)
            wb_fmt(b, "<br><small>%s</small>", T(&pg, "aún no abierta al público", "not released yet"));
        wb_fmt(b, "</td><td>%s min · %s %s</td><td class=\"num seats-offered\">", PQgetvalue(r, i, 5),
               PQgetvalue(r, i, 6), T(&pg, "por horario", "per time"));
        wb_esc(b, PQgetvalue(r, i, 8));
        wb_raw(b, "</td><td class=\"num seats-booked\">");
        wb_esc(b, PQgetvalue(r, i, 9));
        wb_raw(b, "</td><td class=\"state\">");
        wb_esc(b, stp_state_label(pg.en, state));
        wb_raw(b, "</td><td>");
        if (strcmp(state, "open") == 0) {
            struct wbuf api, next;
            wb_init(&api, &req->pool, 96);
            wb_raw(&api, "/api/v1/admin/offices/");
            wb_url(&api, s->office);
            wb_raw(&api, "/windows/");
            wb_url(&api, id);
            wb_raw(&api, "/close");
            wb_init(&next, &req->pool, 96);
            wb_raw(&next, "/staff/offices/");
            wb_url(&next, s->office);
            wb_raw(&next, "/windows?done=closed");
            stp_form(&pg, api.p, "POST", next.p, "inline", NULL,
                     "¿Cerrar esta ventana? Sus horarios libres dejarán de ofrecerse; las citas ya "
                     "reservadas se mantienen.",
                     "Close this window? Its free times will no longer be offered; appointments already "
                     "booked stay.");
            wb_fmt(b, "<button type=\"submit\" class=\"danger\">%s<span class=\"sr-only\"> %s ",
                   T(&pg, "Cerrar", "Close"), T(&pg, "ventana", "window"));
            wb_esc(b, id);
            wb_raw(b, "</span></button></form>");
        }
        wb_raw(b, "</td></tr>\n");
    }
    if (n > 0)
        wb_raw(b, "</tbody></table></div>\n");
    /* cancel a day: to its confirmation page */
    wb_fmt(b, "<h2 id=\"cancel-day\">%s</h2>\n<form method=\"get\" action=\"/staff/offices/",
           T(&pg, "Cancelar un día", "Cancel a day"));
    wb_url(b, s->office);
    wb_fmt(
        b,
        "/cancel-day\"><div class=\"field\"><label for=\"cancel-date\">%s</label><input id=\"cancel-date\" "
        "name=\"date\" type=\"date\" required></div><button type=\"submit\" class=\"secondary\">%s</button>"
        "</form>\n",
        T(&pg, "Día que se cancela", "Day to cancel"), T(&pg, "Continuar…", "Continue…"));
    web_page_send(&pg, 200);
}

static void windows_query(h2o_req_t *req, struct console *s)
{
    const char *v[] = {s->office};
    console_query(req, s, sql_windows, 1, v, windows_render);
}

void web_on_staff_windows(h2o_req_t *req, const struct server_params *p)
{
    stp_require(req, STP_OFFICE, &p->v[0], windows_query, NULL);
}

/* ============================== a new window ============================== */

static void field(struct wbuf *b, const char *id, const char *label, const char *type, const char *attrs,
                  const char *hint)
{
    wb_fmt(b, "<div class=\"field\"><label for=\"%s\">%s</label><input id=\"%s\" name=\"%s\" type=\"%s\" %s",
           id, label, id, id, type, attrs);
    if (hint != NULL)
        wb_fmt(b, " aria-describedby=\"%s-hint\"><p class=\"hint\" id=\"%s-hint\">%s</p></div>\n", id, id,
               hint);
    else
        wb_raw(b, "></div>\n");
}

static void new_render(h2o_req_t *req, struct console *s)
{
    const struct web_ref *ref = web_ref_now(req);
    const struct web_office *o = web_ref_office(ref, s->office, strlen(s->office));
    if (o == NULL) {
        stp_not_found(req);
        return;
    }
    struct web_page pg;
    stp_open(&pg, req, s, "Nueva ventana de citas", "New calendar window", "new");
    struct wbuf *b = &pg.b;
    wb_fmt(b, "<p>%s <strong>",
           T(&pg, "Fechas y horas en la hora local de la oficina:",
             "Dates and times in the office's local time:"));
    wb_esc(b, o->tz);
    wb_fmt(b, "</strong>. %s</p>\n",
           T(&pg, "Los horarios se generan dentro del horario de atención, sin los días festivos.",
             "Times are generated within the working hours, skipping holidays."));
    struct wbuf api, next;
    wb_init(&api, &req->pool, 96);
    wb_raw(&api, "/api/v1/admin/offices/");
    wb_url(&api, s->office);
    wb_raw(&api, "/windows");
    wb_init(&next, &req->pool, 96);
    wb_raw(&next, "/staff/offices/");
    wb_url(&next, s->office);
    wb_raw(&next, "/windows?done=created&code={window.id}");
    /* read by staff.js: the preview API and the office's zone (for the release time's offset) */
    struct wbuf attrs;
    wb_init(&attrs, &req->pool, 160);
    wb_raw(&attrs, "data-preview=\"");
    wb_esc(&attrs, api.p);
    wb_raw(&attrs, "/preview\" data-tz=\"");
    wb_esc(&attrs, o->tz);
    wb_raw(&attrs, "\"");
    stp_form(&pg, api.p, "POST", next.p, "window-form", attrs.p, NULL, NULL);
    wb_fmt(b,
           "<div class=\"field\"><label for=\"procedure\">%s</label><select id=\"procedure\" "
           "name=\"procedure\" required>",
           T(&pg, "Trámite", "Procedure"));
    for (size_t i = 0; i < o->nprocs; i++) {
        const struct web_proc *p = &ref->procs[o->procs[i]];
        if (!p->needs_appointment)
            continue;
        wb_raw(b, "<option value=\"");
        wb_esc(b, p->code);
        wb_raw(b, "\">");
        wb_esc(b, pg.en ? p->name_en : p->name_es);
        wb_raw(b, "</option>");
    }
    wb_raw(b, "</select></div>\n");
    field(b, "first_day", T(&pg, "Primer día", "First day"), "date", "required", NULL);
    field(b, "last_day", T(&pg, "Último día", "Last day"), "date", "required",
          T(&pg, "Como mucho 180 días.", "At most 180 days."));
    field(b, "slot_minutes", T(&pg, "Minutos por horario", "Minutes per time"), "number",
          "required min=\"5\" max=\"240\" step=\"5\" value=\"30\" data-type=\"int\"", NULL);
    field(b, "seats_per_slot", T(&pg, "Lugares por horario", "Seats per time"), "number",
          "required min=\"1\" max=\"100\" value=\"1\" data-type=\"int\"", NULL);
    field(b, "excluded_days", T(&pg, "Días excluidos", "Excluded days"), "text",
          "data-type=\"list\" placeholder=\"2027-03-16, 2027-03-20\" pattern=\"[0-9 ,;-]*\"",
          T(&pg, "Fechas AAAA-MM-DD separadas por comas (opcional).",
            "Dates YYYY-MM-DD separated by commas (optional)."));
    field(
        b, "release_at", T(&pg, "Apertura al público (hora local)", "Release to the public (local time)"),
        "datetime-local", "required data-type=\"local-datetime\"",
        T(&pg, "Desde este momento los ciudadanos pueden reservar.", "From this moment citizens can book."));
    wb_fmt(
        b,
        "<div class=\"actions\"><button type=\"button\" class=\"secondary\" data-preview-button>%s</button>"
        "<button type=\"submit\">%s</button></div>\n</form>\n",
        T(&pg, "Vista previa", "Preview"), T(&pg, "Crear ventana", "Create window"));
    wb_fmt(b,
           "<section id=\"preview\" class=\"preview\" aria-live=\"polite\" aria-label=\"%s\" "
           "hidden></section>\n",
           T(&pg, "Vista previa de los horarios", "Preview of the times"));
    web_page_send(&pg, 200);
}

void web_on_staff_window_new(h2o_req_t *req, const struct server_params *p)
{
    stp_require(req, STP_OFFICE, &p->v[0], new_render, NULL);
}

/* ============================== cancel a day ============================== */

static const char sql_day[] =
    "SELECT (SELECT count(*) FROM slots s WHERE s.office_code = $1 AND s.state = 'open'"
    "  AND s.local_start >= $2::date AND s.local_start < $2::date + 1),"
    " (SELECT count(*) FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE a.office_code = $1"
    "  AND a.state = 'active' AND s.local_start >= $2::date AND s.local_start < $2::date + 1)";

static void day_render(h2o_req_t *req, struct console *s, const PGresult *const *res, int nres)
{
    (void)nres;
    const char *date = s->ctx;
    const PGresult *r = res[0];
    struct web_page pg;
    stp_open(&pg, req, s, "Cancelar un día", "Cancel a day", "windows");
    struct wbuf *b = &pg.b;
    const char *slots = PQgetvalue(r, 0, 0), *appts = PQgetvalue(r, 0, 1);
    char local[20];
    snprintf(local, sizeof(local), "%sT00:00", date);
    struct wbuf day;
    wb_init(&day, &req->pool, 64);
    web_fmt_local(&day, pg.en, local);
    day.len -= day.len > 7 ? 7 : 0; /* drop ", 00:00" */
    day.p[day.len] = '\0';
    wb_raw(b, "<p class=\"notice\">");
    wb_esc(b, day.p);
    wb_fmt(b,
           ": <strong id=\"day-slots\">%s</strong> %s, <strong id=\"day-appointments\">%s</strong> %s</p>\n",
           slots, T(&pg, "horarios abiertos", "open times"), appts,
           T(&pg, "citas reservadas. Cancelar el día las cancela y avisa a cada ciudadano por correo.",
             "booked appointments. Cancelling the day cancels them and emails each citizen."));
    struct wbuf api, next;
    wb_init(&api, &req->pool, 96);
    wb_raw(&api, "/api/v1/admin/offices/");
    wb_url(&api, s->office);
    wb_raw(&api, "/days/");
    wb_raw(&api, date);
    wb_raw(&api, "/cancel");
    wb_init(&next, &req->pool, 96);
    wb_raw(&next, "/staff/offices/");
    wb_url(&next, s->office);
    wb_raw(&next, "/agenda?date=");
    wb_raw(&next, date);
    wb_raw(&next, "&done=day_cancelled");
    stp_form(&pg, api.p, "POST", next.p, "cancel-day", NULL, NULL, NULL);
    wb_fmt(
        b,
        "<div class=\"field check\"><input id=\"confirm-day\" type=\"checkbox\" required data-skip>"
        "<label for=\"confirm-day\">%s</label></div>\n<button type=\"submit\" class=\"danger\">%s</button>\n"
        "</form>\n<p><a href=\"/staff/offices/",
        T(&pg, "Entiendo que las citas de este día se cancelan y se avisa a los ciudadanos.",
          "I understand that this day's appointments are cancelled and the citizens notified."),
        T(&pg, "Cancelar el día", "Cancel the day"));
    wb_url(b, s->office);
    wb_raw(b, "/agenda?date=");
    wb_raw(b, date);
    wb_fmt(b, "\">%s</a></p>\n", T(&pg, "Volver sin cancelar", "Go back without cancelling"));
    web_page_send(&pg, 200);
}

static void day_query(h2o_req_t *req, struct console *s)
{
    const char *v[] = {s->office, s->ctx};
    console_query(req, s, sql_day, 2, v, day_render);
}

void web_on_staff_cancel_day(h2o_req_t *req, const struct server_params *p)
{
    const char *date = web_query(req, "date", 10);
    if (!console_date_ok(date)) {
        web_page_message(req, 400, "Fecha no válida", "Invalid date", "Elija un día (AAAA-MM-DD).",
                         "Choose a day (YYYY-MM-DD).");
        return;
    }
    char *d = h2o_mem_alloc_pool(&req->pool, 11);
    memcpy(d, date, 11);
    stp_require(req, STP_OFFICE, &p->v[0], day_query, d);
}
