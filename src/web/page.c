/* The frame of every page: language, headers (CSP, caching), layout, redirects, sessions, dates. */
#include "internal.h"
#include "citas/auth.h"
#include "citas/guard.h"
#include "citas/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- language --- */

const char *web_accept_language(const char *h, size_t len)
{
    double best_q = -1;
    const char *best = "es";
    size_t i = 0;
    while (h != NULL && i < len) {
        size_t start = i;
        while (i < len && h[i] != ',')
            i++;
        size_t end = i++;
        while (start < end && (h[start] == ' ' || h[start] == '\t'))
            start++;
        size_t tag_end = start;
        while (tag_end < end && h[tag_end] != ';' && h[tag_end] != ' ')
            tag_end++;
        double q = 1.0;
        const char *qp = memchr(h + tag_end, 'q', end - tag_end);
        if (qp != NULL && qp + 1 < h + end && qp[1] == '=') {
            char num[8] = "";
            size_t n = 0;
            for (const char *c = qp + 2;
                 c < h + end && n < sizeof(num) - 1 && ((*c >= '0' && *c <= '9') || *c == '.'); c++)
                num[n++] = *c;
            q = n > 0 ? strtod(num, NULL) : 0;
        }
        size_t tl = tag_end - start;
        const char *lang = NULL;
        if (tl >= 2 && (tl == 2 || h[start + 2] == '-')) {
            if ((h[start] | 0x20) == 'e' && (h[start + 1] | 0x20) == 'n')
                lang = "en";
            else if ((h[start] | 0x20) == 'e' && (h[start + 1] | 0x20) == 's')
                lang = "es";
        }
        if (lang != NULL && q > 0 && q > best_q) {
            best_q = q;
            best = lang;
        }
    }
    return best;
}

int web_lang_en(h2o_req_t *req)
{
    size_t len = 0;
    const char *q = server_query(req, "lang", &len);
    if (q != NULL && (strcmp(q, "en") == 0 || strcmp(q, "es") == 0)) {
        char c[80];
        snprintf(c, sizeof(c), "lang=%s; Path=/; Max-Age=31536000; SameSite=Lax%s", q,
                 server_is_tls(req) ? "; Secure" : "");
        server_add_header(req, "set-cookie", c);
        return q[1] == 'n';
    }
    const char *c = server_cookie(req, "lang", &len);
    if (c != NULL && len == 2 && (memcmp(c, "en", 2) == 0 || memcmp(c, "es", 2) == 0))
        return c[1] == 'n';
    const char *al = server_header(req, "accept-language", &len);
    return strcmp(web_accept_language(al, al != NULL ? len : 0), "en") == 0;
}

const char *web_query(h2o_req_t *req, const char *name, size_t max)
{
    size_t len = 0;
    const char *v = server_query(req, name, &len);
    if (v == NULL || len > max || strlen(v) != len || !json_utf8_valid(v, len))
        return NULL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20)
            return NULL;
    return v;
}

const char *web_self(h2o_req_t *req)
{
    const char *p = req->path.base;
    size_t n = req->path.len;
    const char *qm = memchr(p, '?', n);
    struct wbuf b;
    wb_init(&b, &req->pool, n + 2);
    if (qm == NULL) {
        wb_rawn(&b, p, n);
        return b.p;
    }
    wb_rawn(&b, p, (size_t)(qm - p));
    const char *s = qm + 1, *end = p + n;
    int first = 1;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp != NULL ? amp : end;
        if (e > s && !((size_t)(e - s) >= 5 && memcmp(s, "lang=", 5) == 0)) {
            wb_raw(&b, first ? "?" : "&");
            wb_rawn(&b, s, (size_t)(e - s));
            first = 0;
        }
        s = e + 1;
    }
    return b.p;
}

/* --- sending --- */

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

void web_send(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len, const char *cache)
{
    struct web_worker *ww = web_worker_of(req);
    req->res.status = status;
    req->res.reason = reason(status);
    req->res.content_length = len;
    if (ctype != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cache, strlen(cache));
    if (ww != NULL && ww->csp != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0, NULL,
                              ww->csp, strlen(ww->csp));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-frame-options"), 0, NULL,
                          H2O_STRLIT("DENY"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL,
                          H2O_STRLIT("same-origin"));
    h2o_send_inline(req, body, len);
}

void web_redirect(h2o_req_t *req, const char *location)
{
    server_add_header(req, "location", location);
    web_send(req, 303, "text/plain; charset=utf-8", "", 0, "no-store");
}

/* --- the frame --- */

void web_page_open(struct web_page *pg, h2o_req_t *req, const char *title, const char *csrf, int personal,
                   const char *captcha_action)
{
    struct web_worker *ww = web_worker_of(req);
    memset(pg, 0, sizeof(*pg));
    pg->req = req;
    pg->en = web_lang_en(req);
    pg->csrf = csrf;
    pg->personal = personal;
    pg->captcha = captcha_action != NULL && ww != NULL && ww->guard != NULL &&
                  guard_needs_captcha(ww->guard, captcha_action);
    struct wbuf *b = &pg->b;
    wb_init(b, &req->pool, 16384);
    wb_fmt(b, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n",
           pg->en ? "en" : "es");
    wb_raw(b, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    wb_esc(b, title);
    wb_raw(b, T(pg, " · Citas consulares", " · Consular appointments"));
    wb_raw(b, "</title>\n<link rel=\"stylesheet\" href=\"");
    wb_raw(b, web_asset_url("citas.css"));
    wb_raw(b, "\">\n<script src=\"");
    wb_raw(b, web_asset_url("api.js")); /* window.citasApi, for citas.js and the staff pages' scripts */
    wb_raw(b, "\" defer></script>\n<script src=\"");
    wb_raw(b, web_asset_url("citas.js"));
    wb_raw(b, "\" defer></script>\n");
    if (csrf != NULL) {
        wb_raw(b, "<meta name=\"csrf-token\" content=\"");
        wb_esc(b, csrf);
        wb_raw(b, "\">\n");
    }
    if (pg->captcha) {
        wb_raw(b, "<script src=\"");
        wb_esc(b, ww->script_url);
        wb_raw(b, "\" async defer></script>\n");
    }
    wb_raw(b, "</head>\n<body>\n<a class=\"skip\" href=\"#main\">");
    wb_raw(b, T(pg, "Saltar al contenido", "Skip to content"));
    wb_raw(b, "</a>\n<header class=\"site\"><div class=\"wrap\">\n<a class=\"brand\" href=\"/\">");
    wb_raw(b, T(pg, "Citas consulares", "Consular appointments"));
    wb_fmt(b, "</a>\n<nav aria-label=\"%s\"><ul>", T(pg, "Principal", "Main"));
    wb_fmt(b, "<li><a href=\"/\">%s</a></li>", T(pg, "Oficinas", "Offices"));
    size_t clen = 0;
    int cookie = server_cookie(req, "citas_session", &clen) != NULL && clen > 0;
    if (personal == WEB_PAGE_STAFF) {
        wb_fmt(b, "<li><a href=\"/staff\">%s</a></li>", T(pg, "Consola", "Console"));
    } else if (personal || cookie) {
        wb_fmt(b, "<li><a href=\"/appointments\">%s</a></li>", T(pg, "Mis citas", "My appointments"));
        wb_fmt(b, "<li><a href=\"/me\">%s</a></li>", T(pg, "Mis datos", "My data"));
    }
    if (personal && csrf != NULL) {
        wb_raw(b, "<li><form class=\"inline\" method=\"post\" action=\"/logout\">"
                  "<input type=\"hidden\" name=\"csrf\" value=\"");
        wb_esc(b, csrf);
        wb_fmt(b, "\"><button type=\"submit\" class=\"link\">%s</button></form></li>",
               T(pg, "Salir", "Log out"));
    } else if (!cookie) {
        wb_fmt(b, "<li><a href=\"/login\">%s</a></li>", T(pg, "Entrar", "Log in"));
        wb_fmt(b, "<li><a href=\"/register\">%s</a></li>", T(pg, "Crear cuenta", "Create account"));
    }
    wb_raw(b, "</ul></nav>\n");
    const char *self = web_self(req);
    wb_raw(b, "<a class=\"lang\" href=\"");
    wb_esc(b, self);
    wb_raw(b, strchr(self, '?') != NULL ? "&amp;" : "?");
    if (pg->en)
        wb_raw(b, "lang=es\" hreflang=\"es\" lang=\"es\">Español</a>\n");
    else
        wb_raw(b, "lang=en\" hreflang=\"en\" lang=\"en\">English</a>\n");
    wb_raw(b, "</div></header>\n<main id=\"main\" tabindex=\"-1\"><div class=\"wrap\">\n<h1>");
    wb_esc(b, title);
    wb_raw(b, "</h1>\n");
}

void web_page_send(struct web_page *pg, int status)
{
    struct wbuf *b = &pg->b;
    wb_raw(b, "</div></main>\n<footer class=\"site\"><div class=\"wrap\"><p>");
    wb_raw(b, T(pg, "Servicio consular. Las citas son gratuitas: nadie puede venderlas.",
                "Consular service. Appointments are free: nobody may sell them."));
    wb_raw(b, "</p></div></footer>\n</body>\n</html>\n");
    server_add_header(pg->req, "vary", "Accept-Language, Cookie");
    web_send(pg->req, status, "text/html; charset=utf-8", b->p, b->len,
             pg->personal ? "no-store" : "no-cache");
}

void web_page_message(h2o_req_t *req, int status, const char *title_es, const char *title_en,
                      const char *text_es, const char *text_en)
{
    struct web_page pg;
    int en = web_lang_en(req);
    web_page_open(&pg, req, en ? title_en : title_es, NULL, 1, NULL);
    wb_raw(&pg.b, "<p class=\"notice\" role=\"alert\">");
    wb_esc(&pg.b, T(&pg, text_es, text_en));
    wb_fmt(&pg.b, "</p>\n<p><a href=\"/\">%s</a></p>\n", T(&pg, "Volver al inicio", "Back to the start"));
    if (status == 503)
        server_add_header(req, "retry-after", "5");
    web_page_send(&pg, status);
}

void web_captcha_widget(struct web_page *pg)
{
    struct web_worker *ww = web_worker_of(pg->req);
    if (!pg->captcha)
        return;
    wb_fmt(&pg->b,
           "<div class=\"field\"><p id=\"captcha-label\">%s</p><div class=\"h-captcha\" data-sitekey=\"",
           T(pg, "Verificación contra robots:", "Robot check:"));
    wb_esc(&pg->b, ww->sitekey);
    /* citas.js: a booking form's response is checked as soon as it is solved (POST /api/v1/captcha) */
    wb_fmt(&pg->b, "\" data-hl=\"%s\" data-callback=\"citasCaptchaSolved\"></div></div>\n",
           pg->en ? "en" : "es");
}

/* --- personal pages --- */

struct sess_ctx {
    web_session_cb cb;
    void *ctx;
    int had_cookie;
};

static void on_peek(h2o_req_t *req, const struct auth_session *s, int status, void *ctx)
{
    if (req == NULL) /* ctx lived in the request's pool: gone too */
        return;
    struct sess_ctx *sc = ctx;
    if (status == 0 && s != NULL) {
        sc->cb(req, s, sc->ctx);
    } else if (status == 401) {
        struct wbuf b;
        wb_init(&b, &req->pool, 256);
        wb_raw(&b, "/login?next=");
        wb_url(&b, web_self(req));
        if (sc->had_cookie) {
            wb_raw(&b, "&expired=1");
            server_add_header(req, "set-cookie", "citas_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        }
        web_redirect(req, b.p);
    } else {
        web_page_message(req, 503, "Servicio no disponible", "Service unavailable",
                         "No podemos leer su sesión en este momento. Intente de nuevo en unos segundos.",
                         "We cannot read your session right now. Please try again in a few seconds.");
    }
}

void web_with_session(h2o_req_t *req, web_session_cb cb, void *ctx)
{
    struct sess_ctx *sc = h2o_mem_alloc_pool(&req->pool, sizeof(*sc));
    size_t len = 0;
    sc->cb = cb;
    sc->ctx = ctx;
    sc->had_cookie = server_cookie(req, "citas_session", &len) != NULL && len > 0;
    auth_peek_session(req, on_peek, sc);
}

/* --- dates --- */

void web_fmt_local(struct wbuf *b, int en, const char *local)
{
    static const char *const days_es[] = {"domingo", "lunes",   "martes", "miércoles",
                                          "jueves",  "viernes", "sábado"};
    static const char *const days_en[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
    static const char *const mon_es[] = {"enero",      "febrero", "marzo",     "abril",
                                         "mayo",       "junio",   "julio",     "agosto",
                                         "septiembre", "octubre", "noviembre", "diciembre"};
    static const char *const mon_en[] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};
    int y, m, d, hh, mm;
    if (local == NULL || sscanf(local, "%4d-%2d-%2dT%2d:%2d", &y, &m, &d, &hh, &mm) != 5 || m < 1 || m > 12) {
        wb_esc(b, local);
        return;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = 12;
    time_t t = timegm(&tm);
    struct tm out;
    gmtime_r(&t, &out);
    if (en)
        wb_fmt(b, "%s, %s %d, %d, %02d:%02d", days_en[out.tm_wday], mon_en[m - 1], d, y, hh, mm);
    else
        wb_fmt(b, "%s, %d de %s de %d, %02d:%02d", days_es[out.tm_wday], d, mon_es[m - 1], y, hh, mm);
}
