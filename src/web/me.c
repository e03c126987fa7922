/* My data (/me): see, correct (name, email language), download as JSON, delete the account. */
#include "internal.h"
#include "citas/auth.h"
#include "citas/pg.h"

#include <string.h>

static const char *doc_name(const struct web_page *pg, const char *t)
{
    if (strcmp(t, "curp") == 0)
        return "CURP";
    if (strcmp(t, "passport") == 0)
        return T(pg, "Pasaporte", "Passport");
    if (strcmp(t, "consular_id") == 0)
        return T(pg, "Matrícula consular", "Consular ID");
    return t;
}

static void me_render(h2o_req_t *req, const struct web_mine *m, const PGresult *r)
{
    if (PQntuples(r) != 1) {
        server_add_header(req, "set-cookie", "citas_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        web_redirect(req, "/login?expired=1&next=/me");
        return;
    }
    const char *email = PQgetvalue(r, 0, 0), *name = PQgetvalue(r, 0, 1), *dt = PQgetvalue(r, 0, 2),
               *dn = PQgetvalue(r, 0, 3), *lang = PQgetvalue(r, 0, 4), *since = PQgetvalue(r, 0, 5);
    struct web_page pg;
    int en = web_lang_en(req);
    web_page_open(&pg, req, en ? "My data" : "Mis datos", m->csrf, 1, NULL);
    struct wbuf *b = &pg.b;
    if (server_query(req, "saved", NULL) != NULL)
        wb_fmt(b, "<p class=\"notice success\" role=\"status\">%s</p>\n",
               T(&pg, "Sus datos quedaron guardados.", "Your data is saved."));
    wb_fmt(b, "<dl class=\"facts\" id=\"my-data\"><dt>%s</dt><dd id=\"my-name\">", T(&pg, "Nombre", "Name"));
    wb_esc(b, name);
    wb_fmt(b, "</dd><dt>%s</dt><dd>", T(&pg, "Correo electrónico", "Email address"));
    wb_esc(b, email);
    wb_fmt(b, "</dd><dt>%s</dt><dd>", T(&pg, "Documento de identidad", "Identity document"));
    if (!PQgetisnull(r, 0, 2)) {
        wb_esc(b, doc_name(&pg, dt));
        wb_raw(b, " ");
        wb_esc(b, dn);
    }
    wb_fmt(b, "</dd><dt>%s</dt><dd>%s</dd><dt>%s</dt><dd>", T(&pg, "Idioma", "Language"),
           strcmp(lang, "en") == 0 ? "English" : "Español", T(&pg, "Cuenta creada", "Account created"));
    wb_esc(b, since);
    wb_raw(b, "</dd></dl>\n");

    wb_fmt(b, "<section aria-labelledby=\"fix\"><h2 id=\"fix\">%s</h2>\n",
           T(&pg, "Corregir mis datos", "Correct my data"));
    wb_fmt(b, "<p>%s</p>\n",
           T(&pg, "Para cambiar su correo o su documento, contacte a la oficina consular.",
             "To change your email or your document, contact the consular office."));
    web_api_form(&pg, "/api/v1/me", "PATCH", "/me?saved=1", "me");
    wb_fmt(
        b,
        "<div class=\"field\"><label for=\"full_name\">%s</label><input id=\"full_name\" name=\"full_name\" "
        "type=\"text\" required maxlength=\"200\" autocomplete=\"name\" value=\"",
        T(&pg, "Nombre completo", "Full name"));
    wb_esc(b, name);
    wb_fmt(b,
           "\"></div>\n<div class=\"field\"><label for=\"lang\">%s</label><select id=\"lang\" name=\"lang\">"
           "<option value=\"es\"%s>Español</option><option value=\"en\"%s>English</option></select></div>\n",
           T(&pg, "Idioma de los correos", "Language of our emails"),
           strcmp(lang, "en") == 0 ? "" : " selected", strcmp(lang, "en") == 0 ? " selected" : "");
    wb_fmt(b, "<button type=\"submit\">%s</button>\n</form>\n</section>\n", T(&pg, "Guardar", "Save"));

    wb_fmt(b, "<section aria-labelledby=\"export\"><h2 id=\"export\">%s</h2>\n<p>%s</p>\n",
           T(&pg, "Descargar mis datos", "Download my data"),
           T(&pg, "Todo lo que guardamos sobre usted: su cuenta, sus citas y su historial, en formato JSON.",
             "Everything we keep about you: your account, your appointments and their history, as JSON."));
    wb_fmt(b,
           "<p><a class=\"button secondary\" href=\"/api/v1/me/export\" "
           "download=\"citas-my-data.json\">%s</a></p>\n"
           "</section>\n",
           T(&pg, "Descargar mis datos (JSON)", "Download my data (JSON)"));

    wb_fmt(b, "<section aria-labelledby=\"delete\"><h2 id=\"delete\">%s</h2>\n<p>%s</p>\n",
           T(&pg, "Eliminar mi cuenta", "Delete my account"),
           T(&pg, "Se cancelarán sus citas activas y se borrarán sus datos personales. No se puede deshacer.",
             "Your active appointments will be cancelled and your personal data erased. This cannot be "
             "undone."));
    web_api_form(&pg, "/api/v1/me", "DELETE", "/?deleted=1", "delete");
    wb_fmt(
        b,
        "<div class=\"field check\"><input type=\"checkbox\" id=\"confirm-delete\" name=\"confirm\" required "
        "data-skip><label for=\"confirm-delete\">%s</label></div>\n",
        T(&pg, "Entiendo que mi cuenta y mis citas activas se eliminarán.",
          "I understand that my account and my active appointments will be deleted."));
    wb_fmt(b, "<button type=\"submit\" class=\"danger\">%s</button>\n</form>\n</section>\n",
           T(&pg, "Eliminar mi cuenta", "Delete my account"));
    web_page_send(&pg, 200);
}

static void me_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    (void)ctx;
    web_mine_query(req, web_mine_new(req, s, NULL),
                   "SELECT email, full_name, doc_type, doc_number, lang, to_char(created_at, 'YYYY-MM-DD') "
                   "FROM accounts WHERE id = $1 AND NOT disabled",
                   me_render);
}

void web_on_me(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    web_with_session(req, me_session, NULL);
}
