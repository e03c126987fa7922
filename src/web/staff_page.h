/*
 * Private to the staff console's pages (staff_*.c): /staff and everything under /staff/offices/{code}/ and
 * /staff/admin/.
 *
 * Who sees what (the same rules as the admin API, so a page never offers what its API refuses):
 *  - office pages (agenda, windows, settings): consular_staff and consular_admin of that office, a
 *    consular_admin without an office (every office) and sysadmin; anyone else with a session gets a 403
 *    page, anonymous a 303 to /login?next=;
 *  - office settings are written by the office's consular_admin and sysadmin (consular_staff reads them);
 *  - /staff/admin/...: sysadmin only.
 * Pages read PostgreSQL directly and change nothing: every change is an API call made by
 * /static/staff.<hash>.js from the page's forms with the session's CSRF token.
 */
#ifndef CITAS_WEB_STAFF_PAGE_H
#define CITAS_WEB_STAFF_PAGE_H

#include "console.h"

/* What a page needs of the session. */
enum stp_need {
    STP_CONSOLE, /* consular_staff, consular_admin, sysadmin (helpdesk: sent to /helpdesk) */
    STP_OFFICE,  /* as STP_CONSOLE, and allowed to act for the page's office */
    STP_SYSADMIN,
};

/* Loads the session and the office cache and calls cb when the session may see the page (office: the
 * page's office code from the URL, or NULL); otherwise answers itself (303 /login, 403, 404, 503). */
void stp_require(h2o_req_t *req, enum stp_need need, const h2o_iovec_t *office, console_cb cb, void *ctx);

/* Opens a staff page: web_page_open (personal, no-store), staff.css and staff.js, and the console's
 * navigation with `current` marked ("agenda", "windows", "new", "settings", "offices", "staff", "home").
 * title_es/en are the <h1>; the office's name is added for office pages. */
void stp_open(struct web_page *pg, h2o_req_t *req, struct console *s, const char *title_es,
              const char *title_en, const char *current);
void stp_not_found(h2o_req_t *req);
/* A form sent by staff.js: data-api (a template: {field} is that field's value), data-method, data-next
 * (a template: {field} from the answer, then the form) and an alert region. attrs: more attributes (our own
 * markup, values escaped by the caller) or NULL. confirm_es/en: a question asked before sending, or NULL. */
void stp_form(struct web_page *pg, const char *api, const char *method, const char *next, const char *cls,
              const char *attrs, const char *confirm_es, const char *confirm_en);
/* A status notice (role="status") when the query has done=<key>: text by key, from `table`
 * (NULL-terminated triples key, es, en); {code} in the text is replaced by the query's code (escaped). */
void stp_done_notice(struct web_page *pg, const char *const *table);

/* The office's name in the page's language ("" when unknown). */
const char *stp_office_name(h2o_req_t *req, int en, const char *code);
/* Labels. */
const char *stp_role_label(int en, const char *role);
const char *stp_state_label(int en, const char *state);
const char *stp_proc_name(h2o_req_t *req, int en, const char *code);

#endif
