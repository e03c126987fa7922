/*
 * The sysadmin's pages: GET /staff/admin/offices (every office, and a form to create one),
 * GET /staff/admin/offices/{code} (edit), GET /staff/admin/staff?office=&role= (staff accounts, a form to
 * create one, disable/enable) and GET /staff/admin/staff/{id} (edit role, office, name, password, disabled).
 * Changes go through the sysadmin API (/api/v1/admin/offices, /api/v1/admin/staff).
 */
#include "staff_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = {"embassy", "consulate_general", "consulate", "consular_section", NULL};
static const char *const roles[] = {"consular_staff", "consular_admin", "helpdesk", "sysadmin", NULL};

/* clang-format off */
static const char *const kind_labels[] = {
    "embassy", "Embajada", "Embassy",
    "consulate_general", "Consulado general", "Consulate general",
    "consulate", "Consulado", "Consulate",
    "consular_section", "Sección consular", "Consular section",
    NULL,
};
/* clang-format on */

static const char *kind_label(int en, const char *k)
{
    return console_label(kind_labels, en, k);
}

/* A labelled text input; value may be NULL; attrs is our markup. */
static void input(struct wbuf *b, const char *id, const char *name, const char *label, const char *type,
                  const char *attrs, const char *value)
{
    wb_fmt(b, "<div class=\"field\"><label for=\"%s\">%s</label><input id=\"%s\" name=\"%s\" type=\"%s\" %s",
           id, label, id, name, type, attrs);
    if (value != NULL) {
        wb_raw(b, " value=\"");
        wb_esc(b, value);
        wb_raw(b, "\"");
    }
    wb_raw(b, "></div>\n");
}

static void select_of(struct web_page *pg, const char *id, const char *name, const char *label,
                      const char *const *values, const char *(*lbl)(int, const char *), const char *selected)
{
    struct wbuf *b = &pg->b;
    wb_fmt(b, "<div class=\"field\"><label for=\"%s\">%s</label><select id=\"%s\" name=\"%s\">", id, label,
           id, name);
    for (size_t i = 0; values[i] != NULL; i++)
        wb_fmt(b, "<option value=\"%s\"%s>%s</option>", values[i],
               selected != NULL && strcmp(selected, values[i]) == 0 ? " selected" : "",
               lbl(pg->en, values[i]));
    wb_raw(b, "</select></div>\n");
}

/* An edit page's form: PATCH api<id>, then on to next<shown> (percent-encoded). */
static void edit_form(struct web_page *pg, const char *api, const char *id, const char *next,
                      const char *shown, const char *cls)
{
    struct wbuf a, n;
    wb_init(&a, &pg->req->pool, 64);
    wb_raw(&a, api);
    wb_url(&a, id);
    wb_init(&n, &pg->req->pool, 64);
    wb_raw(&n, next);
    wb_url(&n, shown);
    stp_form(pg, a.p, "PATCH", n.p, cls, NULL, NULL, NULL);
}

/* ============================== offices ============================== */

static const char sql_offices[] =
    "SELECT code, kind, name_es, name_en, city, country, time_zone, active FROM offices"
    " ORDER BY country, city, code";
static const char sql_office[] = "SELECT code, kind, name_es, name_en, city, country, country_name_es,"
                                 " country_name_en, time_zone, address, coalesce(phone, ''), active"
                                 " FROM offices WHERE code = $1";

/* The office's fields; o: a row of sql_office or NULL (a new office). */
static void office_fields(struct web_page *pg, const PGresult *o)
{
    struct wbuf *b = &pg->b;
#define V(c) (o != NULL ? PQgetvalue(o, 0, c) : NULL)
    if (o == NULL)
        input(b, "code", "code",
              T(pg, "Código (3 a 8 letras mayúsculas o cifras)", "Code (3 to 8 capitals or digits)"), "text",
              "required pattern=\"[A-Z]{3}[A-Z0-9]{0,5}\" maxlength=\"8\" autocapitalize=\"characters\"",
              NULL);
    select_of(pg, "kind", "kind", T(pg, "Tipo", "Kind"), kinds, kind_label, V(1));
    input(b, "name_es", "name_es", T(pg, "Nombre en español", "Name in Spanish"), "text",
          "required maxlength=\"200\"", V(2));
    input(b, "name_en", "name_en", T(pg, "Nombre en inglés", "Name in English"), "text",
          "required maxlength=\"200\"", V(3));
    input(b, "city", "city", T(pg, "Ciudad", "City"), "text", "required maxlength=\"100\"", V(4));
    input(b, "country", "country", T(pg, "País (código ISO de 2 letras)", "Country (2-letter ISO code)"),
          "text", "required pattern=\"[A-Z]{2}\" maxlength=\"2\"", V(5));
    input(b, "country_name_es", "country_name_es", T(pg, "País en español", "Country in Spanish"), "text",
          "required maxlength=\"100\"", V(6));
    input(b, "country_name_en", "country_name_en", T(pg, "País en inglés", "Country in English"), "text",
          "required maxlength=\"100\"", V(7));
    input(b, "time_zone", "time_zone",
          T(pg, "Zona horaria (IANA, p. ej. America/Chicago)", "Time zone (IANA, e.g. America/Chicago)"),
          "text", "required maxlength=\"64\"", V(8));
    input(b, "address", "address", T(pg, "Dirección", "Address"), "text", "required maxlength=\"300\"", V(9));
    input(b, "phone", "phone", T(pg, "Teléfono (opcional, +…)", "Phone (optional, +…)"), "tel",
          o != NULL ? "maxlength=\"26\" data-type=\"nullable\"" : "maxlength=\"26\" data-type=\"optional\"",
          V(10));
    if (o != NULL)
        wb_fmt(b,
               "<div class=\"field check\"><input id=\"active\" name=\"active\" type=\"checkbox\" "
               "data-type=\"bool\"%s>"
               "<label for=\"active\">%s</label></div>\n",
               strcmp(PQgetvalue(o, 0, 11), "t") == 0 ? " checked" : "",
               T(pg, "Activa (visible para los ciudadanos)", "Active (shown to citizens)"));
#undef V
}

static const char *const done_offices[] = {
    "created", "Oficina {code} creada.",   "Office {code} created.",
    "updated", "Oficina {code} guardada.", "Office {code} saved.",
    NULL,
};

static void offices_render(h2o_req_t *req, struct console *s, const PGresult *const *res, int nres)
{
    (void)nres;
    const PGresult *r = res[0];
    struct web_page pg;
    stp_open(&pg, req, s, "Administrar oficinas", "Manage offices", "offices");
    struct wbuf *b = &pg.b;
    stp_done_notice(&pg, done_offices);
    wb_fmt(b, "<p><a href=\"#new-office\">%s</a></p>\n", T(&pg, "Crear una oficina", "Create an office"));
    wb_fmt(
        b,
        "<div class=\"table-wrap\"><table class=\"staff-table\" id=\"offices\"><caption>%s: "
        "%d</caption><thead><tr>"
        "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
        "<th scope=\"col\">%s</th><th scope=\"col\">%s</th></tr></thead><tbody>\n",
        T(&pg, "Oficinas", "Offices"), PQntuples(r), T(&pg, "Código", "Code"), T(&pg, "Nombre", "Name"),
        T(&pg, "Ciudad", "City"), T(&pg, "Zona horaria", "Time zone"), T(&pg, "Estado", "State"),
        T(&pg, "Acción", "Action"));
    for (int i = 0; i < PQntuples(r); i++) {
        const char *code = PQgetvalue(r, i, 0);
        wb_raw(b, "<tr data-office=\"");
        wb_esc(b, code);
        wb_raw(b, "\"><td>");
        wb_esc(b, code);
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, pg.en ? 3 : 2));
        wb_raw(b, " <small>(");
        wb_esc(b, kind_label(pg.en, PQgetvalue(r, i, 1)));
        wb_raw(b, ")</small></td><td>");
        wb_esc(b, PQgetvalue(r, i, 4));
        wb_raw(b, ", ");
        wb_esc(b, PQgetvalue(r, i, 5));
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 6));
        wb_fmt(b, "</td><td>%s</td><td><a href=\"/staff/admin/offices/",
               strcmp(PQgetvalue(r, i, 7), "t") == 0 ? T(&pg, "Activa", "Active")
                                                     : T(&pg, "Inactiva", "Inactive"));
        wb_url(b, code);
        wb_fmt(b, "\">%s<span class=\"sr-only\"> ", T(&pg, "Editar", "Edit"));
        wb_esc(b, code);
        wb_raw(b, "</span></a></td></tr>\n");
    }
    wb_raw(b, "</tbody></table></div>\n");
    wb_fmt(b, "<h2 id=\"new-office\">%s</h2>\n", T(&pg, "Crear una oficina", "Create an office"));
    stp_form(&pg, "/api/v1/admin/offices", "POST", "/staff/admin/offices?done=created&code={code}",
             "office-form", NULL, NULL, NULL);
    office_fields(&pg, NULL);
    wb_fmt(b, "<button type=\"submit\">%s</button></form>\n", T(&pg, "Crear oficina", "Create office"));
    web_page_send(&pg, 200);
}

static void offices_query(h2o_req_t *req, struct console *s)
{
    console_query(req, s, sql_offices, 0, NULL, offices_render);
}

void web_on_staff_admin_offices(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    stp_require(req, STP_SYSADMIN, NULL, offices_query, NULL);
}

static void office_render(h2o_req_t *req, struct console *s, const PGresult *const *res, int nres)
{
    (void)nres;
    const PGresult *o = res[0];
    if (PQntuples(o) != 1) {
        stp_not_found(req);
        return;
    }
    const char *code = PQgetvalue(o, 0, 0);
    struct web_page pg;
    stp_open(&pg, req, s, "Editar oficina", "Edit office", "offices");
    struct wbuf *b = &pg.b;
    wb_raw(b, "<p>");
    wb_esc(b, code);
    wb_fmt(b, " · <a href=\"/staff?office=");
    wb_url(b, code);
    wb_fmt(b, "\">%s</a></p>\n", T(&pg, "Abrir su consola", "Open its console"));
    edit_form(&pg, "/api/v1/admin/offices/", code, "/staff/admin/offices?done=updated&code=", code,
              "office-form");
    office_fields(&pg, o);
    wb_fmt(b, "<button type=\"submit\">%s</button></form>\n", T(&pg, "Guardar", "Save"));
    web_page_send(&pg, 200);
}

static void office_query(h2o_req_t *req, struct console *s)
{
    const char *v[] = {s->ctx};
    console_query(req, s, sql_office, 1, v, office_render);
}

void web_on_staff_admin_office(h2o_req_t *req, const struct server_params *p)
{
    if (!auth_office_code_valid(p->v[0].base, p->v[0].len)) {
        stp_not_found(req);
        return;
    }
    char *code = h2o_mem_alloc_pool(&req->pool, p->v[0].len + 1);
    memcpy(code, p->v[0].base, p->v[0].len);
    code[p->v[0].len] = '\0';
    stp_require(req, STP_SYSADMIN, NULL, office_query, code);
}

/* ============================== staff accounts ============================== */

#define STAFF_COLS                                                                                           \
    "id, email, full_name, role, coalesce(office_code, ''), disabled, to_char(created_at, 'YYYY-MM-DD')"
static const char sql_staff[] = "SELECT " STAFF_COLS " FROM accounts WHERE role <> 'citizen'"
                                " AND ($1 = '' OR office_code = $1) AND ($2 = '' OR role = $2)"
                                " ORDER BY id DESC LIMIT 500";
static const char sql_member[] =
    "SELECT " STAFF_COLS " FROM accounts WHERE role <> 'citizen' AND id = $1::bigint";

struct staff_q {
    char office[AUTH_OFFICE_MAX + 1], role[20], id[24];
};

static void office_select(struct web_page *pg, const char *id, const char *name, const char *label,
                          const char *none_es, const char *none_en, const char *selected)
{
    wb_fmt(&pg->b,
           "<div class=\"field\"><label for=\"%s\">%s</label><select id=\"%s\" name=\"%s\"%s><option "
           "value=\"\">%s</option>",
           id, label, id, name, strcmp(name, "office") == 0 ? " data-type=\"nullable\"" : "",
           T(pg, none_es, none_en));
    console_office_options(pg, web_ref_now(pg->req), selected);
    wb_raw(&pg->b, "</select></div>\n");
}

static const char *const done_staff[] = {
    "created", "Cuenta {code} creada.",   "Account {code} created.",
    "updated", "Cuenta {code} guardada.", "Account {code} saved.",
    NULL,
};

static void staff_render(h2o_req_t *req, struct console *s, const PGresult *const *res, int nres)
{
    (void)nres;
    const struct staff_q *q = s->ctx;
    const PGresult *r = res[0];
    struct web_page pg;
    stp_open(&pg, req, s, "Cuentas del personal", "Staff accounts", "staff");
    struct wbuf *b = &pg.b;
    stp_done_notice(&pg, done_staff);
    wb_raw(b, "<form method=\"get\" action=\"/staff/admin/staff\" class=\"filters\">");
    office_select(&pg, "f-office", "f_office", T(&pg, "Oficina", "Office"), "Todas", "All", q->office);
    wb_fmt(b,
           "<div class=\"field\"><label for=\"f-role\">%s</label><select id=\"f-role\" name=\"role\"><option "
           "value=\"\">%s</option>",
           T(&pg, "Función", "Role"), T(&pg, "Todas", "All"));
    for (size_t i = 0; roles[i] != NULL; i++)
        wb_fmt(b, "<option value=\"%s\"%s>%s</option>", roles[i],
               strcmp(q->role, roles[i]) == 0 ? " selected" : "", stp_role_label(pg.en, roles[i]));
    wb_fmt(b, "</select></div><button type=\"submit\" class=\"secondary\">%s</button></form>\n",
           T(&pg, "Filtrar", "Filter"));
    wb_fmt(
        b,
        "<div class=\"table-wrap\"><table class=\"staff-table\" id=\"staff\"><caption>%s: "
        "%d</caption><thead><tr>"
        "<th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th><th scope=\"col\">%s</th>"
        "<th scope=\"col\">%s</th><th scope=\"col\">%s</th></tr></thead><tbody>\n",
        T(&pg, "Cuentas", "Accounts"), PQntuples(r), T(&pg, "Correo", "Email"), T(&pg, "Nombre", "Name"),
        T(&pg, "Función", "Role"), T(&pg, "Oficina", "Office"), T(&pg, "Estado", "State"),
        T(&pg, "Acciones", "Actions"));
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0), *email = PQgetvalue(r, i, 1);
        int disabled = strcmp(PQgetvalue(r, i, 5), "t") == 0;
        wb_raw(b, "<tr data-email=\"");
        wb_esc(b, email);
        wb_raw(b, "\"><td>");
        wb_esc(b, email);
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 2));
        wb_raw(b, "</td><td>");
        wb_esc(b, stp_role_label(pg.en, PQgetvalue(r, i, 3)));
        wb_raw(b, "</td><td>");
        wb_esc(b, PQgetvalue(r, i, 4));
        wb_fmt(b, "</td><td class=\"state\">%s</td><td class=\"row-actions\"><a href=\"/staff/admin/staff/",
               disabled ? T(&pg, "Desactivada", "Disabled") : T(&pg, "Activa", "Active"));
        wb_url(b, id);
        wb_fmt(b, "\">%s<span class=\"sr-only\"> ", T(&pg, "Editar", "Edit"));
        wb_esc(b, email);
        wb_raw(b, "</span></a> ");
        struct wbuf api, next;
        wb_init(&api, &req->pool, 64);
        wb_raw(&api, "/api/v1/admin/staff/");
        wb_url(&api, id);
        wb_init(&next, &req->pool, 64);
        wb_raw(&next, "/staff/admin/staff?done=updated&code=");
        wb_url(&next, email);
        stp_form(&pg, api.p, "PATCH", next.p, "inline", NULL,
                 disabled ? NULL : "¿Desactivar esta cuenta? Sus sesiones se cierran.",
                 "Disable this account? Its sessions end.");
        wb_fmt(b, "<input type=\"hidden\" name=\"disabled\" value=\"%s\" data-type=\"json\">",
               disabled ? "false" : "true");
        wb_fmt(b, "<button type=\"submit\" class=\"%s\">%s<span class=\"sr-only\"> ",
               disabled ? "secondary" : "danger",
               disabled ? T(&pg, "Reactivar", "Enable") : T(&pg, "Desactivar", "Disable"));
        wb_esc(b, email);
        wb_raw(b, "</span></button></form></td></tr>\n");
    }
    wb_raw(b, "</tbody></table></div>\n");
    wb_fmt(b, "<h2 id=\"new-staff\">%s</h2>\n", T(&pg, "Crear una cuenta", "Create an account"));
    stp_form(&pg, "/api/v1/admin/staff", "POST", "/staff/admin/staff?done=created&code={email}", "staff-form",
             NULL, NULL, NULL);
    input(b, "email", "email", T(&pg, "Correo electrónico", "Email address"), "email",
          "required maxlength=\"254\"", NULL);
    input(b, "name", "name", T(&pg, "Nombre completo", "Full name"), "text", "required maxlength=\"200\"",
          NULL);
    select_of(&pg, "role", "role", T(&pg, "Función", "Role"), roles, stp_role_label, "consular_staff");
    office_select(
        &pg, "office", "office",
        T(&pg, "Oficina (personal y administración consular)", "Office (consular staff and administrators)"),
        "Ninguna", "None", NULL);
    input(b, "password", "password",
          T(&pg, "Contraseña inicial (10 caracteres o más)", "Initial password (10 characters or more)"),
          "password", "required minlength=\"10\" maxlength=\"256\" autocomplete=\"new-password\"", NULL);
    wb_fmt(b, "<button type=\"submit\">%s</button></form>\n", T(&pg, "Crear cuenta", "Create account"));
    web_page_send(&pg, 200);
}

static void staff_query(h2o_req_t *req, struct console *s)
{
    const struct staff_q *q = s->ctx;
    const char *v[] = {q->office, q->role};
    console_query(req, s, sql_staff, 2, v, staff_render);
}

void web_on_staff_admin_staff(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct staff_q *q = h2o_mem_alloc_pool(&req->pool, sizeof(*q));
    memset(q, 0, sizeof(*q));
    const char *office = web_query(req, "f_office", AUTH_OFFICE_MAX), *role = web_query(req, "role", 19);
    if (office != NULL && office[0] != '\0' && auth_office_code_valid(office, strlen(office)))
        snprintf(q->office, sizeof(q->office), "%s", office);
    for (size_t i = 0; role != NULL && roles[i] != NULL; i++)
        if (strcmp(role, roles[i]) == 0)
            snprintf(q->role, sizeof(q->role), "%s", role);
    stp_require(req, STP_SYSADMIN, NULL, staff_query, q);
}

static void member_render(h2o_req_t *req, struct console *s, const PGresult *const *res, int nres)
{
    (void)nres;
    const PGresult *r = res[0];
    if (PQntuples(r) != 1) {
        stp_not_found(req);
        return;
    }
    const char *id = PQgetvalue(r, 0, 0), *email = PQgetvalue(r, 0, 1);
    struct web_page pg;
    stp_open(&pg, req, s, "Editar cuenta del personal", "Edit staff account", "staff");
    struct wbuf *b = &pg.b;
    wb_raw(b, "<p><strong>");
    wb_esc(b, email);
    wb_fmt(b, "</strong> · %s ", T(&pg, "creada el", "created on"));
    wb_esc(b, PQgetvalue(r, 0, 6));
    wb_raw(b, "</p>\n");
    edit_form(&pg, "/api/v1/admin/staff/", id, "/staff/admin/staff?done=updated&code=", email, "staff-form");
    input(b, "name", "name", T(&pg, "Nombre completo", "Full name"), "text", "required maxlength=\"200\"",
          PQgetvalue(r, 0, 2));
    select_of(&pg, "role", "role", T(&pg, "Función", "Role"), roles, stp_role_label, PQgetvalue(r, 0, 3));
    office_select(
        &pg, "office", "office",
        T(&pg, "Oficina (personal y administración consular)", "Office (consular staff and administrators)"),
        "Ninguna", "None", PQgetvalue(r, 0, 4));
    input(b, "password", "password",
          T(&pg, "Contraseña nueva (vacía: sin cambio)", "New password (empty: unchanged)"), "password",
          "minlength=\"10\" maxlength=\"256\" autocomplete=\"new-password\" data-type=\"optional\"", NULL);
    wb_fmt(b,
           "<div class=\"field check\"><input id=\"disabled\" name=\"disabled\" type=\"checkbox\" "
           "data-type=\"bool\"%s>"
           "<label for=\"disabled\">%s</label></div>\n",
           strcmp(PQgetvalue(r, 0, 5), "t") == 0 ? " checked" : "",
           T(&pg, "Desactivada (no puede entrar; sus sesiones se cierran)",
             "Disabled (cannot log in; sessions end)"));
    wb_fmt(b, "<button type=\"submit\">%s</button></form>\n", T(&pg, "Guardar", "Save"));
    web_page_send(&pg, 200);
}

static void member_query(h2o_req_t *req, struct console *s)
{
    const struct staff_q *q = s->ctx;
    const char *v[] = {q->id};
    console_query(req, s, sql_member, 1, v, member_render);
}

void web_on_staff_admin_member(h2o_req_t *req, const struct server_params *p)
{
    struct staff_q *q = h2o_mem_alloc_pool(&req->pool, sizeof(*q));
    memset(q, 0, sizeof(*q));
    int ok = p->v[0].len > 0 && p->v[0].len < 19;
    for (size_t i = 0; ok && i < p->v[0].len; i++)
        ok = p->v[0].base[i] >= '0' && p->v[0].base[i] <= '9';
    if (!ok) {
        stp_not_found(req);
        return;
    }
    memcpy(q->id, p->v[0].base, p->v[0].len);
    stp_require(req, STP_SYSADMIN, NULL, member_query, q);
}
