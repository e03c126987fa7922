/*
 * Private to the web module's staff pages: the staff console (staff_*.c, staff_page.h) and the help desk and
 * audit pages (helpdesk_*.c, audit_page.c, helpdesk_page.h). What both sections share: the session's facts
 * a page keeps, read-only PostgreSQL transactions rendered into a page, the frame's stylesheet and script,
 * the 403/503 pages, dates in queries and the office <select>. Who may see which page stays with each
 * section (stp_require, hdp_require): they answer differently on purpose.
 */
#ifndef CITAS_WEB_CONSOLE_H
#define CITAS_WEB_CONSOLE_H

#include "internal.h"
#include "citas/auth.h"
#include "citas/pg.h"

/* A staff page's request (in the request's pool): the session's facts and the page's own context. */
struct console {
    char csrf[65];
    char account[24];
    enum auth_role role;
    char own_office[AUTH_OFFICE_MAX + 1]; /* the session's office, "" for none */
    char office[AUTH_OFFICE_MAX + 1];     /* the page's office (staff console pages with one), else "" */
    int can_write_settings;               /* consular_admin or sysadmin */
    void *ctx;
};
typedef void (*console_cb)(h2o_req_t *req, struct console *c);

/* A zeroed console in the request's pool, holding ctx. */
struct console *console_new(h2o_req_t *req, void *ctx);
/* Copies the session's CSRF token, account, role and office into c (after the section's role check). */
void console_take_session(struct console *c, const struct auth_session *ses);

/* Results of a read-only transaction: results[0..n). */
typedef void (*console_rows_cb)(h2o_req_t *req, struct console *c, const PGresult *const *results, int n);
/* Commits tx (statements added by the caller; NULL: out of memory) and calls render with its results, or
 * answers a 503 page. A request closed early drops the answer. */
void console_commit(h2o_req_t *req, struct console *c, struct pg_tx *tx, console_rows_cb render);

/* A read-only transaction on the worker's pool (NULL: none free or out of memory; console_commit answers). */
struct pg_tx *console_tx(h2o_req_t *req);
/* One statement (values: n pool or static strings, copied by pg) through console_commit. */
void console_query(h2o_req_t *req, struct console *c, const char *sql, int n, const char *const *values,
                   console_rows_cb render);

/* Opens a staff page: web_page_open (personal, no-store, staff header) and the section's stylesheet and
 * script by their plain asset names ("staff.css", "staff.js"). */
void console_open(struct web_page *pg, h2o_req_t *req, struct console *c, const char *title, const char *css,
                  const char *js);
/* <li><a href="href">label</a></li> of a section navigation; href is our own markup (encoded by the
 * caller), label too; current: aria-current="page". */
void console_nav_item(struct web_page *pg, const char *href, const char *label, int current);

/* Whole pages: 503 (the database cannot be read), 403 with the section's explanation. */
void console_unavailable(h2o_req_t *req);
void console_forbidden(h2o_req_t *req, const char *text_es, const char *text_en);

/* The label of key in the page's language from table (NULL-terminated triples key, Spanish, English); key
 * itself when the table does not name it. */
const char *console_label(const char *const *table, int en, const char *key);
/* 1 for a real date YYYY-MM-DD from 2000 on. */
int console_date_ok(const char *s);
/* <option>s of the offices of ref (value its code, `selected` marked). */
void console_office_options(struct web_page *pg, const struct web_ref *ref, const char *selected);

#endif
