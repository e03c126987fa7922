/*
 * GET /staff: where staff land after logging in. Staff of one office see their office's sections; a
 * sysadmin or a consular_admin without an office first chooses an office (?office=CODE), and a sysadmin
 * also reaches the offices and staff accounts. Help desk accounts are sent on to /helpdesk.
 */
#include "staff_page.h"

#include <string.h>

static void office_links(struct web_page *pg, const char *code)
{
    static const struct {
        const char *path, *es, *en, *hint_es, *hint_en;
    } items[] = {
        {"/agenda", "Agenda del día", "Day's agenda", "Citas del día, llegadas, ausencias, impresión y CSV.",
         "The day's appointments, check-in, no-shows, print and CSV."},
        {"/windows", "Ventanas de citas", "Calendar windows",
         "Lugares ofrecidos y reservados; cerrar una ventana.", "Seats offered and booked; close a window."},
        {"/windows/new", "Nueva ventana", "New window", "Abrir fechas con vista previa de los horarios.",
         "Open dates, with a preview of the times."},
        {"/settings", "Ajustes de la oficina", "Office settings", "Trámites, horario y días festivos.",
         "Procedures, working hours and holidays."},
    };
    struct wbuf *b = &pg->b;
    wb_raw(b, "<h2>");
    wb_esc(b, stp_office_name(pg->req, pg->en, code));
    wb_raw(b, " (");
    wb_esc(b, code);
    wb_raw(b, ")</h2>\n<ul class=\"staff-cards\">\n");
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        wb_raw(b, "<li class=\"card\"><a href=\"/staff/offices/");
        wb_url(b, code);
        wb_raw(b, items[i].path);
        wb_raw(b, "\">");
        wb_raw(b, T(pg, items[i].es, items[i].en));
        wb_raw(b, "</a><p>");
        wb_raw(b, T(pg, items[i].hint_es, items[i].hint_en));
        wb_raw(b, "</p></li>\n");
    }
    wb_raw(b, "</ul>\n");
}

static void render(h2o_req_t *req, struct console *s)
{
    struct web_page pg;
    const char *chosen = web_query(req, "office", AUTH_OFFICE_MAX);
    if (chosen != NULL && web_ref_office(web_ref_now(req), chosen, strlen(chosen)) == NULL)
        chosen = NULL;
    stp_open(&pg, req, s, "Consola del personal", "Staff console", "home");
    struct wbuf *b = &pg.b;
    wb_fmt(b, "<p>%s <strong>", T(&pg, "Su función:", "Your role:"));
    wb_esc(b, stp_role_label(pg.en, auth_role_name(s->role)));
    wb_raw(b, "</strong></p>\n");
    if (s->own_office[0] != '\0') {
        office_links(&pg, s->own_office);
        web_page_send(&pg, 200);
        return;
    }
    wb_fmt(b,
           "<form class=\"office-chooser\" method=\"get\" action=\"/staff\"><div class=\"field\">"
           "<label for=\"office\">%s</label><select id=\"office\" name=\"office\" required>",
           T(&pg, "Oficina", "Office"));
    console_office_options(&pg, web_ref_now(req), chosen);
    wb_fmt(b, "</select></div><button type=\"submit\">%s</button></form>\n", T(&pg, "Abrir", "Open"));
    if (chosen != NULL)
        office_links(&pg, chosen);
    if (s->role == AUTH_ROLE_SYSADMIN)
        wb_fmt(b,
               "<h2>%s</h2>\n<ul class=\"staff-cards\"><li class=\"card\"><a "
               "href=\"/staff/admin/offices\">%s</a>"
               "<p>%s</p></li><li class=\"card\"><a href=\"/staff/admin/staff\">%s</a><p>%s</p></li></ul>\n",
               T(&pg, "Administración del sistema", "System administration"),
               T(&pg, "Administrar oficinas", "Manage offices"),
               T(&pg, "Crear y corregir oficinas.", "Create and edit offices."),
               T(&pg, "Cuentas del personal", "Staff accounts"),
               T(&pg, "Crear, cambiar y desactivar cuentas.", "Create, change and disable accounts."));
    web_page_send(&pg, 200);
}

void web_on_staff(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    stp_require(req, STP_CONSOLE, NULL, render, NULL);
}
