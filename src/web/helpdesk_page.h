/*
 * Private to the help-desk and audit pages of the web module (helpdesk_*.c, audit_page.c).
 *
 * These pages are for staff: a session with one of the page's roles, else a 403 page (anonymous: 303 to
 * /login?next=). They read tickets from PostgreSQL directly and change them only through the JSON API,
 * called by /static/helpdesk.<hash>.js with the session's CSRF token. The appointment look-up and the audit
 * log are read by the script from their APIs (the look-up must be recorded; the audit log's office scoping
 * belongs to its API), so the pages hold their forms and an empty region the script fills.
 */
#ifndef CITAS_WEB_HELPDESK_PAGE_H
#define CITAS_WEB_HELPDESK_PAGE_H

#include "console.h"

#define HDP_HELPDESK_ROLES (AUTH_ROLE_BIT(AUTH_ROLE_HELPDESK) | AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN))
#define HDP_AUDIT_ROLES    (AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN) | AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_ADMIN))

/* Loads the session and calls cb when its role is in `roles`; otherwise answers itself (303 to /login,
 * 403 page, 503 page). ctx lives in the request's pool. */
void hdp_require(h2o_req_t *req, unsigned roles, console_cb cb, void *ctx);

/* Opens a staff page: the frame of web_page_open (personal, no-store), the help-desk stylesheet and script,
 * and the section navigation with `current` ("tickets", "new", "stats", "lookup", "audit") marked. */
void hdp_open(struct web_page *pg, h2o_req_t *req, struct console *h, const char *title_es,
              const char *title_en, const char *current);
void hdp_bad_request(h2o_req_t *req, const char *text_es, const char *text_en);

/* Ticket states and concepts: the API's names (NULL-terminated lists) and their labels. */
extern const char *const hdp_states[];
extern const char *const hdp_concepts[];
int hdp_in(const char *const *list, const char *s);
const char *hdp_state_label(int en, const char *state);
const char *hdp_concept_label(int en, const char *concept);

#endif
