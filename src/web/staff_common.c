/* The staff console's shared steps: who may see a page, the frame and its navigation, forms, labels. */
#include "staff_page.h"

#include <string.h>

void stp_not_found(h2o_req_t *req)
{
    web_page_message(req, 404, "No encontrado", "Not found",
                     "No existe lo que busca en la consola del personal.",
                     "What you are looking for does not exist in the staff console.");
}

static void forbidden(h2o_req_t *req, int other_office)
{
    if (other_office)
        console_forbidden(req, "Esta página es de otra oficina: su cuenta solo puede trabajar con la suya.",
                          "This page belongs to another office: your account may only work with its own.");
    else
        console_forbidden(req, "Su cuenta no tiene permiso para ver esta página de la consola del personal.",
                          "Your account may not see this page of the staff console.");
}

/* --- the session, its role and office --- */

struct need {
    enum stp_need need;
    console_cb cb;
    struct console *s;
};

static void on_ref(h2o_req_t *req, const struct web_ref *ref, void *ctx)
{
    struct need *n = ctx;
    if (ref == NULL) {
        console_unavailable(req);
        return;
    }
    if (n->s->office[0] != '\0' && web_ref_office(ref, n->s->office, strlen(n->s->office)) == NULL) {
        stp_not_found(req);
        return;
    }
    n->cb(req, n->s);
}

static void on_session(h2o_req_t *req, const struct auth_session *ses, void *ctx)
{
    struct need *n = ctx;
    struct console *s = n->s;
    int console = ses->role == AUTH_ROLE_CONSULAR_STAFF || ses->role == AUTH_ROLE_CONSULAR_ADMIN ||
                  ses->role == AUTH_ROLE_SYSADMIN;
    if (ses->role == AUTH_ROLE_HELPDESK && n->need == STP_CONSOLE) {
        web_redirect(req, "/helpdesk");
        return;
    }
    if (!console || (n->need == STP_SYSADMIN && ses->role != AUTH_ROLE_SYSADMIN)) {
        forbidden(req, 0);
        return;
    }
    if (n->need == STP_OFFICE && ses->role != AUTH_ROLE_SYSADMIN && ses->office[0] != '\0' &&
        strcmp(ses->office, s->office) != 0) {
        forbidden(req, 1);
        return;
    }
    if (n->need == STP_OFFICE && ses->role == AUTH_ROLE_CONSULAR_STAFF && ses->office[0] == '\0') {
        forbidden(req, 1);
        return;
    }
    console_take_session(s, ses);
    web_with_ref(req, on_ref, n);
}

void stp_require(h2o_req_t *req, enum stp_need need, const h2o_iovec_t *office, console_cb cb, void *ctx)
{
    struct need *n = h2o_mem_alloc_pool(&req->pool, sizeof(*n));
    n->need = need;
    n->cb = cb;
    n->s = console_new(req, ctx);
    if (office != NULL) {
        if (!auth_office_code_valid(office->base, office->len)) {
            stp_not_found(req);
            return;
        }
        memcpy(n->s->office, office->base, office->len);
        n->s->office[office->len] = '\0';
    }
    web_with_session(req, on_session, n);
}

/* --- labels --- */

const char *stp_office_name(h2o_req_t *req, int en, const char *code)
{
    const struct web_office *o = web_ref_office(web_ref_now(req), code, strlen(code));
    return o == NULL ? "" : en ? o->name_en : o->name_es;
}

const char *stp_proc_name(h2o_req_t *req, int en, const char *code)
{
    const struct web_proc *p = web_ref_proc(web_ref_now(req), code, strlen(code));
    return p == NULL ? code : en ? p->name_en : p->name_es;
}

/* clang-format off */
static const char *const stp_role_labels[] = {
    "consular_staff", "Personal consular", "Consular staff",
    "consular_admin", "Administración consular", "Consular administrator",
    "helpdesk", "Mesa de ayuda", "Help desk",
    "sysadmin", "Administración del sistema", "System administrator",
    NULL,
};
/* clang-format on */

const char *stp_role_label(int en, const char *r)
{
    return console_label(stp_role_labels, en, r);
}

/* clang-format off */
static const char *const stp_state_labels[] = {
    "active", "Reservada", "Booked",
    "checked_in", "Atendida", "Checked in",
    "no_show", "No se presentó", "No-show",
    "cancelled", "Cancelada", "Cancelled",
    "open", "Abierta", "Open",
    "closed", "Cerrada", "Closed",
    NULL,
};
/* clang-format on */

const char *stp_state_label(int en, const char *s)
{
    return console_label(stp_state_labels, en, s);
}

/* --- the frame --- */

static void nav_item(struct web_page *pg, const char *href_a, const char *href_b, const char *label,
                     int current)
{
    struct wbuf h;
    wb_init(&h, &pg->req->pool, 64);
    wb_raw(&h, href_a);
    wb_url(&h, href_b);
    console_nav_item(pg, h.p, label, current);
}

void stp_open(struct web_page *pg, h2o_req_t *req, struct console *s, const char *title_es,
              const char *title_en, const char *current)
{
    int en = web_lang_en(req);
    struct wbuf title;
    wb_init(&title, &req->pool, 128);
    wb_raw(&title, en ? title_en : title_es);
    if (s->office[0] != '\0') {
        wb_raw(&title, " · ");
        wb_raw(&title, stp_office_name(req, en, s->office));
    }
    console_open(pg, req, s, title.p, "staff.css", "staff.js");
    struct wbuf *b = &pg->b;
    wb_fmt(b, "<nav class=\"staff-nav\" aria-label=\"%s\"><ul>",
           T(pg, "Consola del personal", "Staff console"));
    int all =
        s->role == AUTH_ROLE_SYSADMIN || (s->role == AUTH_ROLE_CONSULAR_ADMIN && s->own_office[0] == '\0');
    nav_item(pg, "/staff", "", all ? T(pg, "Elegir oficina", "Choose an office") : T(pg, "Inicio", "Start"),
             strcmp(current, "home") == 0);
    const char *off = s->office[0] != '\0' ? s->office : s->own_office;
    if (off[0] != '\0') {
        static const struct {
            const char *key, *path, *es, *en;
        } items[] = {
            {"agenda", "/agenda", "Agenda del día", "Day's agenda"},
            {"windows", "/windows", "Ventanas de citas", "Calendar windows"},
            {"new", "/windows/new", "Nueva ventana", "New window"},
            {"settings", "/settings", "Ajustes de la oficina", "Office settings"},
        };
        for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
            struct wbuf h;
            wb_init(&h, &req->pool, 64);
            wb_url(&h, off);
            wb_raw(&h, items[i].path);
            nav_item(pg, "/staff/offices/", h.p, T(pg, items[i].es, items[i].en),
                     strcmp(current, items[i].key) == 0);
        }
    }
    if (s->role == AUTH_ROLE_SYSADMIN) {
        nav_item(pg, "/staff/admin/offices", "", T(pg, "Administrar oficinas", "Manage offices"),
                 strcmp(current, "offices") == 0);
        nav_item(pg, "/staff/admin/staff", "", T(pg, "Cuentas del personal", "Staff accounts"),
                 strcmp(current, "staff") == 0);
    }
    if (s->role == AUTH_ROLE_SYSADMIN || s->role == AUTH_ROLE_CONSULAR_ADMIN)
        nav_item(pg, "/staff/audit", "", T(pg, "Auditoría", "Audit log"), 0);
    wb_raw(b, "</ul></nav>\n");
}

void stp_form(struct web_page *pg, const char *api, const char *method, const char *next, const char *cls,
              const char *attrs, const char *confirm_es, const char *confirm_en)
{
    struct wbuf *b = &pg->b;
    wb_fmt(b, "<form class=\"staff-api %s\" method=\"post\" data-api=\"", cls != NULL ? cls : "");
    wb_esc(b, api);
    wb_fmt(b, "\" data-method=\"%s\" data-next=\"", method);
    wb_esc(b, next);
    wb_raw(b, "\"");
    if (attrs != NULL) {
        wb_raw(b, " ");
        wb_raw(b, attrs);
    }
    if (confirm_es != NULL) {
        wb_raw(b, " data-confirm=\"");
        wb_esc(b, T(pg, confirm_es, confirm_en));
        wb_raw(b, "\"");
    }
    wb_raw(b, ">\n<div class=\"alert\" role=\"alert\" tabindex=\"-1\" hidden></div>\n");
}

void stp_done_notice(struct web_page *pg, const char *const *table)
{
    const char *done = web_query(pg->req, "done", 32);
    if (done == NULL)
        return;
    for (size_t i = 0; table[i] != NULL; i += 3) {
        if (strcmp(table[i], done) != 0)
            continue;
        const char *text = T(pg, table[i + 1], table[i + 2]);
        const char *mark = strstr(text, "{code}");
        wb_raw(&pg->b, "<p class=\"notice success\" role=\"status\">");
        if (mark == NULL) {
            wb_esc(&pg->b, text);
        } else {
            wb_escn(&pg->b, text, (size_t)(mark - text));
            wb_raw(&pg->b, "<strong class=\"code\">");
            wb_esc(&pg->b, web_query(pg->req, "code", 40));
            wb_raw(&pg->b, "</strong>");
            wb_esc(&pg->b, mark + 6);
        }
        wb_raw(&pg->b, "</p>\n");
        return;
    }
}
