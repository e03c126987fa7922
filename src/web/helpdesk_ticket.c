/*
 * Help-desk pages: file a ticket (/helpdesk/tickets/new) and one ticket (/helpdesk/tickets/{number}) with its
 * notes history, state change (only the allowed next states are offered; the API still has the last word,
 * so a change made meanwhile elsewhere comes back as its 409, shown translated), reassignment and a new note.
 * Every change is a form that /static/helpdesk.<hash>.js sends to the tickets API.
 */
#include "helpdesk_page.h"

#include <stdio.h>
#include <string.h>

/* The states a ticket in `from` may go to (the API's table), NULL-terminated. */
static const char *const *next_states(const char *from)
{
    static const char *const from_abierto[] = {"en_proceso", "cerrado", NULL};
    static const char *const from_en_proceso[] = {"resuelto", "abierto", NULL};
    static const char *const from_resuelto[] = {"cerrado", "en_proceso", NULL};
    static const char *const none[] = {NULL};
    if (strcmp(from, "abierto") == 0)
        return from_abierto;
    if (strcmp(from, "en_proceso") == 0)
        return from_en_proceso;
    if (strcmp(from, "resuelto") == 0)
        return from_resuelto;
    return none;
}

/* <form> sent by helpdesk.js to the API, with its alert region. */
static void api_form(struct web_page *pg, const char *api, const char *method, const char *next,
                     const char *label)
{
    wb_fmt(&pg->b, "<form class=\"hd-api\" method=\"post\" aria-label=\"%s\" data-api=\"", label);
    wb_esc(&pg->b, api);
    wb_fmt(&pg->b, "\" data-method=\"%s\" data-next=\"", method);
    wb_esc(&pg->b, next);
    wb_raw(&pg->b, "\">\n<div class=\"alert\" role=\"alert\" tabindex=\"-1\" hidden></div>\n");
}

static void labelled_select(struct web_page *pg, const char *id, const char *name, const char *es,
                            const char *en, const char *extra)
{
    wb_fmt(&pg->b, "<div class=\"field\"><label for=\"%s\">%s</label><select id=\"%s\" name=\"%s\"%s>", id,
           T(pg, es, en), id, name, extra);
}

/* ============================== /helpdesk/tickets/new ============================== */

static void new_render(h2o_req_t *req, const struct web_ref *ref, void *ctx)
{
    struct console *h = ctx;
    struct web_page pg;
    hdp_open(&pg, req, h, "Nueva incidencia", "New ticket", "new");
    struct wbuf *b = &pg.b;
    api_form(&pg, "/api/v1/tickets", "POST", "/helpdesk/tickets/{number}?created=1",
             T(&pg, "Nueva incidencia", "New ticket"));
    labelled_select(&pg, "concept", "concept", "Concepto", "Concept", " required");
    wb_fmt(b, "<option value=\"\">%s</option>", T(&pg, "Elija un concepto", "Choose a concept"));
    for (size_t i = 0; hdp_concepts[i] != NULL; i++)
        wb_fmt(b, "<option value=\"%s\">%s</option>", hdp_concepts[i],
               hdp_concept_label(pg.en, hdp_concepts[i]));
    wb_raw(b, "</select></div>\n");
    wb_fmt(b,
           "<div class=\"field\"><label for=\"description\">%s</label>"
           "<textarea id=\"description\" name=\"description\" rows=\"5\" maxlength=\"4000\" "
           "required></textarea></div>\n",
           T(&pg, "Descripción", "Description"));
    wb_fmt(
        b,
        "<div class=\"field\"><label for=\"email\">%s</label>"
        "<input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"off\" maxlength=\"254\"></div>\n",
        T(&pg, "Correo del ciudadano (si se conoce)", "Citizen's email (when known)"));
    wb_fmt(b,
           "<div class=\"field\"><label for=\"appointment_code\">%s</label>"
           "<input type=\"text\" id=\"appointment_code\" name=\"appointment_code\" maxlength=\"10\" "
           "autocomplete=\"off\" class=\"code\" aria-describedby=\"code-hint\">"
           "<p class=\"hint\" id=\"code-hint\">%s</p></div>\n",
           T(&pg, "Código de la cita (si se conoce)", "Appointment code (when known)"),
           T(&pg, "Diez caracteres, como en el comprobante.", "Ten characters, as on the receipt."));
    labelled_select(&pg, "office", "office", "Oficina (si aplica)", "Office (if any)", "");
    wb_fmt(b, "<option value=\"\">%s</option>", T(&pg, "Ninguna", "None"));
    console_office_options(&pg, ref, NULL);
    wb_raw(b, "</select></div>\n");
    wb_fmt(b, "<button type=\"submit\">%s</button>\n</form>\n",
           T(&pg, "Registrar incidencia", "File ticket"));
    web_page_send(&pg, 200);
}

static void new_session(h2o_req_t *req, struct console *h)
{
    web_with_ref(req, new_render, h);
}

void web_on_helpdesk_new(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    hdp_require(req, HDP_HELPDESK_ROLES, new_session, NULL);
}

/* ============================== /helpdesk/tickets/{number} ============================== */

static void fact(struct web_page *pg, const char *es, const char *en, const char *value)
{
    wb_fmt(&pg->b, "<dt>%s</dt><dd>", T(pg, es, en));
    if (value == NULL || value[0] == '\0')
        wb_raw(&pg->b, "—");
    else
        wb_esc(&pg->b, value);
    wb_raw(&pg->b, "</dd>");
}

/* A change note as the API writes it ("estado: a -> b; asignado a: <id>|nadie"), in the page's words: states
 * by their labels, accounts by name. Anything else is shown as written. */
static void change_text(struct web_page *pg, const char *body, const PGresult *staff)
{
    struct wbuf *b = &pg->b;
    const char *s = body;
    while (*s != '\0') {
        const char *end = strstr(s, "; ");
        size_t n = end != NULL ? (size_t)(end - s) : strlen(s);
        char part[160], from[24], to[24], who[24];
        snprintf(part, sizeof(part), "%.*s", (int)(n < sizeof(part) - 1 ? n : sizeof(part) - 1), s);
        if (sscanf(part, "estado: %23s -> %23s", from, to) == 2 && hdp_in(hdp_states, from) &&
            hdp_in(hdp_states, to)) {
            wb_fmt(b, "%s: %s → %s", T(pg, "Estado", "State"), hdp_state_label(pg->en, from),
                   hdp_state_label(pg->en, to));
        } else if (sscanf(part, "asignado a: %23s", who) == 1) {
            const char *name = NULL;
            for (int i = 0; staff != NULL && i < PQntuples(staff); i++)
                if (strcmp(PQgetvalue(staff, i, 0), who) == 0)
                    name = PQgetvalue(staff, i, 1);
            wb_fmt(b, "%s: ", T(pg, "Asignada a", "Assigned to"));
            if (strcmp(who, "nadie") == 0)
                wb_raw(b, T(pg, "nadie", "nobody"));
            else if (name != NULL)
                wb_esc(b, name);
            else
                wb_fmt(b, "%s #%s", T(pg, "cuenta", "account"),
                       strspn(who, "0123456789") == strlen(who) ? who : "?");
        } else {
            wb_escn(b, s, n);
        }
        if (end == NULL)
            break;
        wb_raw(b, "; ");
        s = end + 2;
    }
}

static void detail_render(h2o_req_t *req, struct console *h, const PGresult *const *res, int nres)
{
    const char *number = h->ctx;
    if (nres < 3 || PQntuples(res[0]) != 1) {
        web_page_message(req, 404, "Incidencia no encontrada", "Ticket not found",
                         "No existe ninguna incidencia con ese número.",
                         "There is no ticket with that number.");
        return;
    }
    const PGresult *t = res[0], *notes = res[1], *staff = res[2];
    const char *state = PQgetvalue(t, 0, 1), *assignee = PQgetvalue(t, 0, 7);
    int en = web_lang_en(req);
    struct wbuf title;
    wb_init(&title, &req->pool, 64);
    wb_raw(&title, en ? "Ticket " : "Incidencia ");
    wb_raw(&title, number);
    struct web_page pg;
    hdp_open(&pg, req, h, title.p, title.p, "tickets");
    struct wbuf *b = &pg.b;
    static const struct {
        const char *key, *es, *en;
    } done[] = {
        {"created", "Incidencia registrada.", "Ticket filed."},
        {"changed", "Cambio guardado.", "Change saved."},
        {"noted", "Nota añadida.", "Note added."},
    };
    for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++)
        if (server_query(req, done[i].key, NULL) != NULL)
            wb_fmt(b, "<p class=\"notice success\" role=\"status\">%s</p>\n", T(&pg, done[i].es, done[i].en));
    wb_raw(b, "<dl class=\"facts ticket\">");
    fact(&pg, "Estado", "State", hdp_state_label(pg.en, state));
    fact(&pg, "Concepto", "Concept", hdp_concept_label(pg.en, PQgetvalue(t, 0, 2)));
    fact(&pg, "Abierta (UTC)", "Opened (UTC)", PQgetvalue(t, 0, 9));
    fact(&pg, "Cerrada (UTC)", "Closed (UTC)", PQgetvalue(t, 0, 10));
    fact(&pg, "Registrada por", "Filed by", PQgetvalue(t, 0, 11));
    fact(&pg, "Asignada a", "Assignee", PQgetvalue(t, 0, 8));
    fact(&pg, "Correo del ciudadano", "Citizen's email", PQgetvalue(t, 0, 4));
    fact(&pg, "Código de la cita", "Appointment code", PQgetvalue(t, 0, 5));
    fact(&pg, "Oficina", "Office", PQgetvalue(t, 0, 6));
    wb_raw(b, "</dl>\n");
    if (PQgetvalue(t, 0, 4)[0] != '\0') {
        wb_raw(b, "<p><a href=\"/helpdesk/lookup?email=");
        wb_url(b, PQgetvalue(t, 0, 4));
        wb_fmt(b, "\">%s</a></p>\n",
               T(&pg, "Consultar las citas de este correo (queda registrado)",
                 "Look up this email's appointments (recorded)"));
    }
    wb_fmt(b, "<h2>%s</h2>\n<p class=\"description\">", T(&pg, "Descripción", "Description"));
    wb_esc(b, PQgetvalue(t, 0, 3));
    wb_raw(b, "</p>\n");

    struct wbuf api, next;
    wb_init(&api, &req->pool, 64);
    wb_raw(&api, "/api/v1/tickets/");
    wb_url(&api, number);
    wb_init(&next, &req->pool, 64);
    wb_raw(&next, "/helpdesk/tickets/");
    wb_url(&next, number);

    /* state */
    wb_fmt(b, "<h2>%s</h2>\n", T(&pg, "Estado", "State"));
    const char *const *nexts = next_states(state);
    if (nexts[0] == NULL) {
        wb_fmt(b, "<p>%s</p>\n",
               T(&pg, "La incidencia está cerrada: ya no cambia de estado.",
                 "The ticket is closed: its state no longer changes."));
    } else {
        char nx[96];
        snprintf(nx, sizeof(nx), "%s?changed=1", next.p);
        api_form(&pg, api.p, "PATCH", nx, T(&pg, "Cambiar estado", "Change state"));
        labelled_select(&pg, "state", "state", "Nuevo estado", "New state", "");
        for (size_t i = 0; nexts[i] != NULL; i++)
            wb_fmt(b, "<option value=\"%s\">%s</option>", nexts[i], hdp_state_label(pg.en, nexts[i]));
        wb_fmt(b, "</select></div>\n<button type=\"submit\">%s</button>\n</form>\n",
               T(&pg, "Cambiar estado", "Change state"));
    }

    /* assignee */
    wb_fmt(b, "<h2>%s</h2>\n", T(&pg, "Asignación", "Assignment"));
    char nx[96];
    snprintf(nx, sizeof(nx), "%s?changed=1", next.p);
    api_form(&pg, api.p, "PATCH", nx, T(&pg, "Reasignar", "Reassign"));
    labelled_select(&pg, "assignee", "assignee", "Asignar a", "Assign to", " data-json=\"number\"");
    wb_fmt(b, "<option value=\"\"%s>%s</option>", assignee[0] == '\0' ? " selected" : "",
           T(&pg, "Nadie", "Nobody"));
    for (int i = 0; i < PQntuples(staff); i++) {
        const char *id = PQgetvalue(staff, i, 0);
        wb_raw(b, "<option value=\"");
        wb_esc(b, id);
        wb_raw(b, strcmp(id, assignee) == 0 ? "\" selected>" : "\">");
        wb_esc(b, PQgetvalue(staff, i, 1));
        wb_raw(b, " (");
        wb_esc(b, PQgetvalue(staff, i, 2));
        wb_raw(b, ")</option>");
    }
    wb_fmt(b, "</select></div>\n<button type=\"submit\">%s</button>\n</form>\n",
           T(&pg, "Reasignar", "Reassign"));

    /* notes */
    wb_fmt(b, "<h2 id=\"history\">%s</h2>\n", T(&pg, "Historial", "History"));
    int nn = PQntuples(notes);
    if (nn == 0)
        wb_fmt(b, "<p>%s</p>\n", T(&pg, "Sin notas todavía.", "No notes yet."));
    else
        wb_raw(b, "<ol class=\"history\" aria-labelledby=\"history\">\n");
    for (int i = 0; i < nn; i++) {
        int change = strcmp(PQgetvalue(notes, i, 2), "change") == 0;
        wb_fmt(b, "<li class=\"%s\"><p class=\"meta\"><time datetime=\"", change ? "change" : "note");
        wb_esc(b, PQgetvalue(notes, i, 3));
        wb_raw(b, "\">");
        wb_esc(b, PQgetvalue(notes, i, 0));
        wb_raw(b, " UTC</time> · <span class=\"author\">");
        wb_esc(b, PQgetvalue(notes, i, 1));
        wb_fmt(b, "</span> · %s</p><p class=\"body\">",
               change ? T(&pg, "Cambio", "Change") : T(&pg, "Nota", "Note"));
        if (change)
            change_text(&pg, PQgetvalue(notes, i, 4), staff);
        else
            wb_esc(b, PQgetvalue(notes, i, 4));
        wb_raw(b, "</p></li>\n");
    }
    if (nn > 0)
        wb_raw(b, "</ol>\n");
    char na[96];
    snprintf(na, sizeof(na), "%s/notes", api.p);
    snprintf(nx, sizeof(nx), "%s?noted=1#history", next.p);
    api_form(&pg, na, "POST", nx, T(&pg, "Añadir nota", "Add a note"));
    wb_fmt(b,
           "<div class=\"field\"><label for=\"note\">%s</label>"
           "<textarea id=\"note\" name=\"body\" rows=\"3\" maxlength=\"4000\" required></textarea></div>\n"
           "<button type=\"submit\">%s</button>\n</form>\n",
           T(&pg, "Nueva nota", "New note"), T(&pg, "Añadir nota", "Add note"));
    wb_fmt(b, "<p><a href=\"/helpdesk\">%s</a></p>\n", T(&pg, "Volver a la lista", "Back to the list"));
    web_page_send(&pg, 200);
}

#define UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"

static void detail_session(h2o_req_t *req, struct console *h)
{
    const char *v[] = {h->ctx};
    struct pg_tx *tx = console_tx(req);
    if (tx != NULL) {
        pg_tx_add(
            tx,
            "SELECT t.number, t.state, t.concept, t.description, coalesce(t.citizen_email, ''), "
            "coalesce(t.appointment_code, ''), coalesce(t.office_code, ''), coalesce(t.assignee_id::text, "
            "''), "
            "coalesce(a.full_name, ''), " UTC("t.opened_at") ", coalesce(" UTC(
                "t.closed_at") ", ''), "
                               "c.full_name FROM tickets t LEFT JOIN accounts a ON a.id = t.assignee_id "
                               "JOIN accounts c ON c.id = t.created_by WHERE t.number = $1",
            1, v);
        pg_tx_add(
            tx,
            "SELECT to_char(n.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), a.full_name, n.kind, "
            "to_char(n.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), n.body FROM ticket_notes n "
            "JOIN tickets t ON t.id = n.ticket_id JOIN accounts a ON a.id = n.author_id "
            "WHERE t.number = $1 ORDER BY n.id",
            1, v);
        pg_tx_add(tx,
                  "SELECT id, full_name, email FROM accounts WHERE role IN ('helpdesk', 'sysadmin') "
                  "AND NOT disabled ORDER BY full_name, id LIMIT 500",
                  0, NULL);
    }
    console_commit(req, h, tx, detail_render);
}

static int number_ok(const char *s, size_t len)
{
    if (len != 15 || memcmp(s, "INC-", 4) != 0 || s[8] != '-')
        return 0;
    for (size_t i = 4; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

void web_on_helpdesk_ticket(h2o_req_t *req, const struct server_params *p)
{
    if (p->n < 1 || !number_ok(p->v[0].base, p->v[0].len)) {
        web_page_message(req, 404, "Incidencia no encontrada", "Ticket not found",
                         "Ese número de incidencia no es válido (INC-AAAA-NNNNNN).",
                         "That is not a valid ticket number (INC-YYYY-NNNNNN).");
        return;
    }
    char *number = h2o_mem_alloc_pool(&req->pool, 16);
    memcpy(number, p->v[0].base, 15);
    number[15] = '\0';
    hdp_require(req, HDP_HELPDESK_ROLES, detail_session, number);
}
