/* The staff pages' shared steps (console.h): session facts, read-only queries, the frame, error pages. */
#include "console.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct console *console_new(h2o_req_t *req, void *ctx)
{
    struct console *c = h2o_mem_alloc_pool(&req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->ctx = ctx;
    return c;
}

void console_take_session(struct console *c, const struct auth_session *ses)
{
    memcpy(c->csrf, ses->csrf, sizeof(c->csrf));
    snprintf(c->account, sizeof(c->account), "%" PRId64, ses->account_id);
    c->role = ses->role;
    snprintf(c->own_office, sizeof(c->own_office), "%s", ses->office);
    c->can_write_settings = ses->role == AUTH_ROLE_SYSADMIN || ses->role == AUTH_ROLE_CONSULAR_ADMIN;
}

/* --- read-only queries --- */

struct rows {
    struct console *c;
    console_rows_cb render;
};

static void on_rows(const struct pg_reply *reply, void *ctx)
{
    struct rows *q = ctx;
    h2o_req_t *req = server_async_req(q);
    if (req != NULL) {
        if (reply->status != PG_OK)
            console_unavailable(req);
        else
            q->render(req, q->c, reply->results, reply->nresults);
    }
    server_async_release(q);
}

void console_commit(h2o_req_t *req, struct console *c, struct pg_tx *tx, console_rows_cb render)
{
    if (tx == NULL) {
        console_unavailable(req);
        return;
    }
    struct rows *q = server_async_alloc(req, sizeof(*q));
    if (q == NULL) {
        pg_tx_abort(tx);
        console_unavailable(req);
        return;
    }
    q->c = c;
    q->render = render;
    if (pg_tx_commit(tx, on_rows, q) != 0) {
        server_async_release(q);
        console_unavailable(req);
    }
}

struct pg_tx *console_tx(h2o_req_t *req)
{
    return pg_tx_begin(server_worker_pg(server_worker_of(req)));
}

void console_query(h2o_req_t *req, struct console *c, const char *sql, int n, const char *const *values,
                   console_rows_cb render)
{
    struct pg_tx *tx = console_tx(req);
    if (tx != NULL)
        pg_tx_add(tx, sql, n, values);
    console_commit(req, c, tx, render);
}

/* --- the frame --- */

void console_open(struct web_page *pg, h2o_req_t *req, struct console *c, const char *title, const char *css,
                  const char *js)
{
    web_page_open(pg, req, title, c->csrf, WEB_PAGE_STAFF, NULL);
    wb_raw(&pg->b, "<link rel=\"stylesheet\" href=\"");
    wb_raw(&pg->b, web_asset_url(css));
    wb_raw(&pg->b, "\">\n<script src=\"");
    wb_raw(&pg->b, web_asset_url(js));
    wb_raw(&pg->b, "\" defer></script>\n");
}

void console_nav_item(struct web_page *pg, const char *href, const char *label, int current)
{
    wb_raw(&pg->b, "<li><a href=\"");
    wb_raw(&pg->b, href);
    wb_raw(&pg->b, current ? "\" aria-current=\"page\">" : "\">");
    wb_raw(&pg->b, label);
    wb_raw(&pg->b, "</a></li>");
}

/* --- whole pages --- */

void console_unavailable(h2o_req_t *req)
{
    web_page_message(req, 503, "Servicio no disponible", "Service unavailable",
                     "No podemos leer los datos en este momento. Intente de nuevo en unos segundos.",
                     "We cannot read the data right now. Please try again in a few seconds.");
}

void console_forbidden(h2o_req_t *req, const char *text_es, const char *text_en)
{
    web_page_message(req, 403, "Acceso restringido", "Access restricted", text_es, text_en);
}

/* --- values --- */

const char *console_label(const char *const *table, int en, const char *key)
{
    for (size_t i = 0; table[i] != NULL; i += 3)
        if (strcmp(table[i], key) == 0)
            return en ? table[i + 2] : table[i + 1];
    return key;
}

int console_date_ok(const char *s)
{
    return s != NULL && server_parse_date(s, strlen(s)) >= 10957; /* days to 2000-01-01 */
}

void console_office_options(struct web_page *pg, const struct web_ref *ref, const char *selected)
{
    for (size_t i = 0; ref != NULL && i < ref->noffices; i++) {
        const struct web_office *o = &ref->offices[i];
        wb_raw(&pg->b, "<option value=\"");
        wb_esc(&pg->b, o->code);
        wb_raw(&pg->b, selected != NULL && strcmp(selected, o->code) == 0 ? "\" selected>" : "\">");
        wb_esc(&pg->b, o->code);
        wb_raw(&pg->b, " · ");
        wb_esc(&pg->b, pg->en ? o->name_en : o->name_es);
        wb_raw(&pg->b, "</option>");
    }
}
