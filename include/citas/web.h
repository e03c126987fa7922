/*
 * web: the citizens' pages — server-rendered HTML in Spanish (default) and English, a little JavaScript.
 *
 * Pages read what they show directly (the per-worker office/procedure cache, Redis for a slot, PostgreSQL
 * for the citizen's own appointments and account); every change goes through the JSON API, called by
 * /static/citas.<hash>.js from the page's <form>s with the session's CSRF token (a <meta> tag) in
 * X-CSRF-Token. API errors are shown translated in the form's role="alert" element. The one exception is
 * POST /logout, a plain form checked here against the session's CSRF token.
 *
 * Language: ?lang=es|en (which also sets the `lang` cookie), else the `lang` cookie, else Accept-Language,
 * else Spanish. Every page carries a strict Content-Security-Policy (no inline script or style; scripts from
 * 'self' and the hCaptcha script's origin only), one <h1>, landmarks, labelled inputs. Every value written
 * into a page goes through web_esc(). Pages that show a citizen's data are Cache-Control: no-store; static
 * assets are served at /static/<name>.<hash>.<ext>, immutable for a year, with an ETag.
 *
 * Threads: handlers run on the worker that owns the request.
 */
#ifndef CITAS_WEB_H
#define CITAS_WEB_H

#include <stddef.h>
#include <h2o.h>

#include "citas/server.h"

/*
 * The module: per-worker office/procedure cache and the page headers. Keys: web_hcaptcha_script_url
 * (default https://js.hcaptcha.com/1/api.js; its origin is allowed by the CSP), web_reference_ttl_s (60).
 * The hCaptcha site key is guard's hcaptcha_sitekey; whether a form shows the widget follows guard's
 * captcha_actions.
 */
extern const struct server_module web_server_module;

/* --- handlers for citasd's route table --- */
void web_on_home(h2o_req_t *req, const struct server_params *p);         /* GET / */
void web_on_office(h2o_req_t *req, const struct server_params *p);       /* GET /offices/{code} */
void web_on_calendar(h2o_req_t *req, const struct server_params *p);     /* GET /offices/{code}/{procedure} */
void web_on_register(h2o_req_t *req, const struct server_params *p);     /* GET /register */
void web_on_verify(h2o_req_t *req, const struct server_params *p);       /* GET /verify */
void web_on_login(h2o_req_t *req, const struct server_params *p);        /* GET /login */
void web_on_login_code(h2o_req_t *req, const struct server_params *p);   /* GET /login/code */
void web_on_logout(h2o_req_t *req, const struct server_params *p);       /* POST /logout (form) */
void web_on_book(h2o_req_t *req, const struct server_params *p);         /* GET /book?slot=&procedure= */
void web_on_appointments(h2o_req_t *req, const struct server_params *p); /* GET /appointments */
void web_on_appointment(h2o_req_t *req, const struct server_params *p);  /* GET /appointments/{code} */
void web_on_me(h2o_req_t *req, const struct server_params *p);           /* GET /me */
void web_on_static(h2o_req_t *req, const struct server_params *p);       /* GET /static/{name} */
/* Staff pages (help desk: roles helpdesk, sysadmin; audit: sysadmin, consular_admin; others 403). */
void web_on_helpdesk(h2o_req_t *req, const struct server_params *p);        /* GET /helpdesk (list, filters) */
void web_on_helpdesk_new(h2o_req_t *req, const struct server_params *p);    /* GET /helpdesk/tickets/new */
void web_on_helpdesk_ticket(h2o_req_t *req, const struct server_params *p); /* GET /helpdesk/tickets/{number} */
void web_on_helpdesk_stats(h2o_req_t *req, const struct server_params *p);  /* GET /helpdesk/stats */
void web_on_helpdesk_lookup(h2o_req_t *req, const struct server_params *p); /* GET /helpdesk/lookup */
void web_on_staff_audit(h2o_req_t *req, const struct server_params *p);     /* GET /staff/audit */
/* The staff console (staff_*.c): consular_staff and consular_admin of the office (an admin without office:
 * every office) and sysadmin; /staff/admin/... sysadmin only; others a 403 page, anonymous 303 to /login.
 * Office pages are /staff/offices/{code}/agenda (?date=), windows, windows/new, cancel-day (?date=) and
 * settings; the sysadmin's are /staff/admin/offices[/{code}] and /staff/admin/staff[/{id}]. */
void web_on_staff(h2o_req_t *req, const struct server_params *p); /* GET /staff (landing, office chooser) */
void web_on_staff_agenda(h2o_req_t *req, const struct server_params *p);
void web_on_staff_windows(h2o_req_t *req, const struct server_params *p);
void web_on_staff_window_new(h2o_req_t *req, const struct server_params *p);
void web_on_staff_cancel_day(h2o_req_t *req, const struct server_params *p);
void web_on_staff_settings(h2o_req_t *req, const struct server_params *p);
void web_on_staff_admin_offices(h2o_req_t *req, const struct server_params *p);
void web_on_staff_admin_office(h2o_req_t *req, const struct server_params *p);
void web_on_staff_admin_staff(h2o_req_t *req, const struct server_params *p);
void web_on_staff_admin_member(h2o_req_t *req, const struct server_params *p);

/* --- helpers, exported for tests --- */

/*
 * Appends s[0..len) to out (room for 6 * len bytes) with & < > " ' written as entities and bytes that are
 * not valid UTF-8 or are control characters (but tab and newline) dropped. Returns the bytes written.
 */
size_t web_escape(char *out, const char *s, size_t len);

/* "es" or "en" for an Accept-Language header value (q-values honoured; NULL or no match: "es"). */
const char *web_accept_language(const char *header, size_t len);

/*
 * The QR code of `text` as an inline SVG element (allocated in pool), or NULL when it cannot be encoded.
 * label is the SVG's accessible name (escaped here).
 */
char *web_qr_svg(h2o_mem_pool_t *pool, const char *text, const char *label);

#endif
