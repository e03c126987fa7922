/*
 * Account pages: register, verify, log in, enter the code; and POST /logout. The forms are submitted by
 * the pages' script to the JSON API (data-api, data-method); data-next says where to go on success
 * ({field} is replaced by that member of the answer or that form field).
 */
#include "internal.h"
#include "citas/auth.h"
#include "citas/redis.h"

#include <stdio.h>
#include <string.h>

/* A local path to return to after logging in: "/..." but not "//..." (another host), no backslash. */
static const char *safe_next(h2o_req_t *req)
{
    const char *n = web_query(req, "next", 300);
    if (n == NULL || n[0] != '/' || n[1] == '/' || strchr(n, '\\') != NULL)
        return NULL;
    return n;
}

static void form_open(struct web_page *pg, const char *api, const char *method, const char *next,
                      const char *submit_id)
{
    (void)submit_id;
    wb_raw(&pg->b, "<form class=\"api\" method=\"post\" data-api=\"");
    wb_esc(&pg->b, api);
    wb_raw(&pg->b, "\" data-method=\"");
    wb_esc(&pg->b, method);
    wb_raw(&pg->b, "\" data-next=\"");
    wb_esc(&pg->b, next);
    wb_raw(&pg->b, "\">\n<div class=\"alert\" role=\"alert\" tabindex=\"-1\" hidden></div>\n");
}

/* A labelled input; hint may be NULL. attrs is our own markup. */
static void field(struct web_page *pg, const char *id, const char *label, const char *type, const char *attrs,
                  const char *value, const char *hint)
{
    struct wbuf *b = &pg->b;
    wb_fmt(b, "<div class=\"field\"><label for=\"%s\">", id);
    wb_esc(b, label);
    wb_fmt(b, "</label><input id=\"%s\" name=\"%s\" type=\"%s\" %s", id, id, type, attrs);
    if (hint != NULL)
        wb_fmt(b, " aria-describedby=\"%s-hint\"", id);
    if (value != NULL) {
        wb_raw(b, " value=\"");
        wb_esc(b, value);
        wb_raw(b, "\"");
    }
    wb_raw(b, ">");
    if (hint != NULL) {
        wb_fmt(b, "<p class=\"hint\" id=\"%s-hint\">", id);
        wb_esc(b, hint);
        wb_raw(b, "</p>");
    }
    wb_raw(b, "</div>\n");
}

static void submit(struct web_page *pg, const char *es, const char *en)
{
    wb_raw(&pg->b, "<button type=\"submit\">");
    wb_esc(&pg->b, T(pg, es, en));
    wb_raw(&pg->b, "</button>\n</form>\n");
}

static void notice(struct web_page *pg, const char *role, const char *es, const char *en)
{
    wb_fmt(&pg->b, "<p class=\"notice\" role=\"%s\">", role);
    wb_esc(&pg->b, T(pg, es, en));
    wb_raw(&pg->b, "</p>\n");
}

void web_on_register(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct web_page pg;
    int en = web_lang_en(req);
    web_page_open(&pg, req, en ? "Create an account" : "Crear una cuenta", NULL, 0, "register");
    struct wbuf *b = &pg.b;
    wb_fmt(b, "<p>%s</p>\n",
           T(&pg,
             "Con una cuenta puede reservar, cambiar y cancelar sus citas. Le enviaremos un código "
             "por correo para confirmar su dirección.",
             "With an account you can book, change and cancel your appointments. We will email you "
             "a code to confirm your address."));
    form_open(&pg, "/api/v1/accounts", "POST", "/verify?email={email}", NULL);
    field(&pg, "full_name", T(&pg, "Nombre completo", "Full name"), "text",
          "required maxlength=\"200\" autocomplete=\"name\"", NULL, NULL);
    field(&pg, "email", T(&pg, "Correo electrónico", "Email address"), "email",
          "required maxlength=\"254\" autocomplete=\"email\"", NULL, NULL);
    field(&pg, "password", T(&pg, "Contraseña", "Password"), "password",
          "required minlength=\"10\" maxlength=\"256\" autocomplete=\"new-password\"", NULL,
          T(&pg, "Al menos 10 caracteres.", "At least 10 characters."));
    wb_fmt(b,
           "<div class=\"field\"><label for=\"document_type\">%s</label><select id=\"document_type\" "
           "name=\"document.type\" required>",
           T(&pg, "Tipo de documento de identidad", "Identity document type"));
    wb_fmt(b,
           "<option value=\"curp\">CURP</option><option value=\"passport\">%s</option>"
           "<option value=\"consular_id\">%s</option></select></div>\n",
           T(&pg, "Pasaporte mexicano", "Mexican passport"),
           T(&pg, "Matrícula consular", "Consular ID (matrícula)"));
    wb_fmt(b,
           "<div class=\"field\"><label for=\"document_number\">%s</label><input id=\"document_number\" "
           "name=\"document.number\" type=\"text\" required maxlength=\"30\" autocapitalize=\"characters\" "
           "aria-describedby=\"document_number-hint\"><p class=\"hint\" "
           "id=\"document_number-hint\">%s</p></div>\n",
           T(&pg, "Número de documento", "Document number"),
           T(&pg, "Una persona, una cuenta: el documento identifica su cita.",
             "One person, one account: the document identifies your appointment."));
    wb_fmt(b,
           "<div class=\"field\"><label for=\"lang\">%s</label><select id=\"lang\" name=\"lang\">"
           "<option value=\"es\"%s>Español</option><option value=\"en\"%s>English</option></select></div>\n",
           T(&pg, "Idioma de los correos", "Language of our emails"), pg.en ? "" : " selected",
           pg.en ? " selected" : "");
    web_captcha_widget(&pg);
    submit(&pg, "Crear cuenta", "Create account");
    wb_fmt(b, "<p>%s <a href=\"/login\">%s</a></p>\n",
           T(&pg, "¿Ya tiene cuenta?", "Already have an account?"), T(&pg, "Entrar", "Log in"));
    web_page_send(&pg, 200);
}

void web_on_verify(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct web_page pg;
    int en = web_lang_en(req);
    web_page_open(&pg, req, en ? "Confirm your email address" : "Confirme su correo electrónico", NULL, 0,
                  NULL);
    const char *email = web_query(req, "email", 254);
    if (email != NULL)
        notice(&pg, "status", "Le enviamos un código de 6 dígitos por correo. Escríbalo aquí.",
               "We emailed you a 6-digit code. Enter it here.");
    form_open(&pg, "/api/v1/accounts/verify", "POST", "/login?verified=1", NULL);
    field(&pg, "email", T(&pg, "Correo electrónico", "Email address"), "email",
          "required maxlength=\"254\" autocomplete=\"email\"", email, NULL);
    field(
        &pg, "code", T(&pg, "Código de verificación", "Verification code"), "text",
        "required inputmode=\"numeric\" pattern=\"[0-9]{6}\" maxlength=\"6\" autocomplete=\"one-time-code\"",
        NULL, T(&pg, "6 dígitos.", "6 digits."));
    submit(&pg, "Confirmar", "Confirm");
    web_page_send(&pg, 200);
}

void web_on_login(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct web_page pg;
    int en = web_lang_en(req);
    web_page_open(&pg, req, en ? "Log in" : "Entrar", NULL, 0, "login");
    struct wbuf *b = &pg.b;
    if (server_query(req, "expired", NULL) != NULL)
        notice(&pg, "alert", "Su sesión expiró o se cerró. Entre de nuevo para continuar.",
               "Your session expired or was closed. Log in again to continue.");
    if (server_query(req, "verified", NULL) != NULL)
        notice(&pg, "status", "Su correo quedó confirmado. Ya puede entrar.",
               "Your email is confirmed. You can log in now.");
    const char *next = safe_next(req);
    struct wbuf to;
    wb_init(&to, &req->pool, 256);
    wb_raw(&to, "/login/code?id={login_id}");
    if (next != NULL) {
        wb_raw(&to, "&next=");
        wb_url(&to, next);
    }
    form_open(&pg, "/api/v1/sessions", "POST", to.p, NULL);
    field(&pg, "email", T(&pg, "Correo electrónico", "Email address"), "email",
          "required maxlength=\"254\" autocomplete=\"username\"", NULL, NULL);
    field(&pg, "password", T(&pg, "Contraseña", "Password"), "password",
          "required maxlength=\"256\" autocomplete=\"current-password\"", NULL, NULL);
    web_captcha_widget(&pg);
    submit(&pg, "Continuar", "Continue");
    wb_fmt(b, "<p>%s <a href=\"/register\">%s</a></p>\n", T(&pg, "¿No tiene cuenta?", "No account yet?"),
           T(&pg, "Crear cuenta", "Create account"));
    web_page_send(&pg, 200);
}

void web_on_login_code(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct web_page pg;
    int en = web_lang_en(req);
    const char *id = web_query(req, "id", 32);
    int ok = id != NULL && strlen(id) == 32;
    for (size_t i = 0; ok && i < 32; i++)
        ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    if (!ok) {
        web_redirect(req, "/login");
        return;
    }
    web_page_open(&pg, req, en ? "Enter your code" : "Escriba su código", NULL, 0, NULL);
    notice(&pg, "status", "Le enviamos un código de 6 dígitos por correo. Vence en pocos minutos.",
           "We emailed you a 6-digit code. It expires in a few minutes.");
    const char *next = safe_next(req);
    form_open(&pg, "/api/v1/sessions/code", "POST", next != NULL ? next : "/appointments", NULL);
    wb_raw(&pg.b, "<input type=\"hidden\" name=\"login_id\" value=\"");
    wb_esc(&pg.b, id);
    wb_raw(&pg.b, "\">\n");
    field(
        &pg, "code", T(&pg, "Código de acceso", "Login code"), "text",
        "required inputmode=\"numeric\" pattern=\"[0-9]{6}\" maxlength=\"6\" autocomplete=\"one-time-code\"",
        NULL, T(&pg, "6 dígitos.", "6 digits."));
    submit(&pg, "Entrar", "Log in");
    wb_fmt(&pg.b, "<p><a href=\"/login\">%s</a></p>\n", T(&pg, "Pedir un código nuevo", "Get a new code"));
    web_page_send(&pg, 200);
}

/* --- POST /logout: a plain form (csrf=...) checked against the session --- */

static void on_redis_done(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c, (void)reply, (void)err, (void)ctx;
}

static void on_logout_peek(h2o_req_t *req, const struct auth_session *s, int status, void *ctx)
{
    (void)ctx;
    if (req == NULL)
        return;
    if (status == 503) {
        web_page_message(req, 503, "Servicio no disponible", "Service unavailable",
                         "No podemos cerrar su sesión en este momento. Intente de nuevo en unos segundos.",
                         "We cannot log you out right now. Please try again in a few seconds.");
        return;
    }
    if (status != 0 || s == NULL) { /* no session: nothing to end */
        server_add_header(req, "set-cookie", "citas_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        web_redirect(req, "/?bye=1");
        return;
    }
    /* the form body: csrf=<64 hex> */
    const char *body = req->entity.base;
    size_t n = req->entity.len;
    const char *v = NULL;
    for (size_t i = 0; body != NULL && i + 5 + 64 <= n; i++) {
        if ((i == 0 || body[i - 1] == '&') && memcmp(body + i, "csrf=", 5) == 0) {
            v = body + i + 5;
            break;
        }
    }
    unsigned char diff = v == NULL;
    for (size_t i = 0; v != NULL && i < 64; i++)
        diff |= (unsigned char)(v[i] ^ s->csrf[i]);
    if (diff != 0) {
        web_page_message(req, 403, "No se pudo cerrar la sesión", "Could not log out",
                         "El formulario caducó. Vuelva a la página anterior, recárguela e intente de nuevo.",
                         "The form has expired. Go back, reload the page and try again.");
        return;
    }
    const char *argv[] = {"DEL", s->key};
    redis_command(server_worker_redis(server_worker_of(req)), on_redis_done, NULL, 2, argv, NULL);
    server_add_header(req, "set-cookie", "citas_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    web_redirect(req, "/?bye=1");
}

void web_on_logout(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    auth_peek_session(req, on_logout_peek, NULL);
}
