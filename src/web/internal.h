/* Private to the web module. */
#ifndef CITAS_WEB_INTERNAL_H
#define CITAS_WEB_INTERNAL_H

#include "citas/web.h"
#include "citas/server.h"

#include <libpq-fe.h>
#include <stdint.h>

struct auth_session;
struct pg_pool;
struct ring;

/* --- HTML text (html.c): a growing buffer in the request's pool --- */
struct wbuf {
    h2o_mem_pool_t *pool;
    char *p;
    size_t len, cap;
};
void wb_init(struct wbuf *b, h2o_mem_pool_t *pool, size_t cap);
/* Markup we wrote ourselves (never a value from a client, a backend or the database). */
void wb_raw(struct wbuf *b, const char *s);
void wb_rawn(struct wbuf *b, const char *s, size_t n);
void wb_fmt(struct wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Any value: HTML-escaped (web_escape). NULL writes nothing. */
void wb_esc(struct wbuf *b, const char *s);
void wb_escn(struct wbuf *b, const char *s, size_t n);
/* A value inside a URL's query or path: percent-encoded (the result needs no HTML escaping). */
void wb_url(struct wbuf *b, const char *s);

/* --- pages (page.c) --- */
struct web_page {
    h2o_req_t *req;
    struct wbuf b;
    int en;           /* 1: English */
    const char *csrf; /* the session's CSRF token on personal pages, else NULL */
    int personal;     /* no-store, logout button; WEB_PAGE_STAFF: the staff navigation */
    int captcha;      /* load the hCaptcha script */
};
#define T(pg, es, en_) ((pg)->en ? (en_) : (es))

/* Language of the request (?lang= sets the cookie too): 1 English, 0 Spanish. */
int web_lang_en(h2o_req_t *req);
#define WEB_PAGE_STAFF 2 /* `personal` of staff pages: the header links to the console, not to a citizen's pages */
/* Starts a page: <head>, header with navigation and the language switch, <main> and the <h1>.
 * captcha_action: the guard action whose form this page shows (its widget's script is loaded when the action
 * needs a captcha), or NULL. */
void web_page_open(struct web_page *pg, h2o_req_t *req, const char *title, const char *csrf, int personal,
                   const char *captcha_action);
/* Ends the page and sends it with its headers (CSP, cache, language). */
void web_page_send(struct web_page *pg, int status);
/* A whole page saying one thing (errors: 404, 503...), in the request's language. */
void web_page_message(h2o_req_t *req, int status, const char *title_es, const char *title_en,
                      const char *text_es, const char *text_en);
/* 303 to a local URL (built by us; made of path and percent-encoded query). */
void web_redirect(h2o_req_t *req, const char *location);
/* Sends body with our security headers (used by pages and static files). cache: Cache-Control value. */
void web_send(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len, const char *cache);
/* The page's own path and query without the lang parameter (pool string, for links and ?next=). */
const char *web_self(h2o_req_t *req);
/* A query value when it is short, valid UTF-8 without controls; else NULL. */
const char *web_query(h2o_req_t *req, const char *name, size_t max);
/* "martes, 1 de diciembre de 2026, 09:00" / "Tuesday, December 1, 2026, 09:00" from "YYYY-MM-DDTHH:MM". */
void web_fmt_local(struct wbuf *b, int en, const char *local);
/* The hCaptcha widget with its site key, when the page's action needs one. */
void web_captcha_widget(struct web_page *pg);
/* A <ul> of the lines of s (one document per line), escaped. */
void web_doc_list(struct wbuf *b, const char *lines);

/* A personal page: calls cb with the session; otherwise answers (303 to /login, or 503) itself. ctx must
 * live as long as the request (allocate it in req->pool). */
typedef void (*web_session_cb)(h2o_req_t *req, const struct auth_session *s, void *ctx);
void web_with_session(h2o_req_t *req, web_session_cb cb, void *ctx);

/* --- the office/procedure cache (ref.c) --- */
struct web_proc {
    char *code, *name_es, *name_en, *docs_es, *docs_en; /* docs: one item per line */
    int duration_min, needs_appointment;
};
struct web_office {
    char *code, *kind, *name_es, *name_en, *city, *country, *country_es, *country_en, *tz, *address, *phone,
        *email;
    char *search; /* lower-case, accents folded: code, names, city, countries */
    size_t nprocs;
    size_t *procs; /* indexes into web_ref.procs */
};
struct web_ref {
    struct web_office *offices;
    size_t noffices;
    struct web_proc *procs;
    size_t nprocs;
};
const struct web_office *web_ref_office(const struct web_ref *r, const char *code, size_t len);
const struct web_proc *web_ref_proc(const struct web_ref *r, const char *code, size_t len);
int web_office_offers(const struct web_ref *r, const struct web_office *o, const struct web_proc *p);
/* Lower-cases ASCII and folds Latin-1 accented letters (UTF-8) to their base letters; pool string. */
char *web_fold(h2o_mem_pool_t *pool, const char *s, size_t len);
/* The worker's cache now (NULL before the first load). A refresh replaces it: do not keep the pointer
 * across a backend call. */
const struct web_ref *web_ref_now(h2o_req_t *req);
/* Calls cb with the cache (NULL if it cannot be loaded), now or once loaded. */
typedef void (*web_ref_cb)(h2o_req_t *req, const struct web_ref *ref, void *ctx);
void web_with_ref(h2o_req_t *req, web_ref_cb cb, void *ctx);

/* --- personal pages' shared steps (mine.c) --- */
/* What a personal page keeps between the session and its query (in the request's pool). */
struct web_mine {
    char csrf[65];
    char id[24]; /* the account */
    char code[11];
};
typedef void (*web_mine_render)(h2o_req_t *req, const struct web_mine *m, const PGresult *r);
/* m (NULL: a new one) with the session's account and CSRF token. */
struct web_mine *web_mine_new(h2o_req_t *req, const struct auth_session *s, struct web_mine *m);
/* Runs sql ($1 the account, $2 m->code when set) and renders its rows, or a 503 page. */
void web_mine_query(h2o_req_t *req, struct web_mine *m, const char *sql, web_mine_render render);
void web_mine_unavailable(h2o_req_t *req);
/* A form the script sends to the JSON API, with its role="alert" element and the CSRF token. */
void web_api_form(struct web_page *pg, const char *api, const char *method, const char *next,
                  const char *cls);

/* --- per-worker state (module.c) --- */
struct web_ref_wait;
struct web_worker {
    struct server_worker *w;
    struct ring *ring;
    struct pg_pool *pg;
    char *csp;              /* the Content-Security-Policy header value */
    const char *script_url; /* hCaptcha's api.js */
    const char *sitekey;    /* hCaptcha site key ("" none) */
    struct guard *guard;    /* which actions need a captcha (may be NULL) */
    uint64_t ref_ttl_ms;
    struct web_ref *ref;
    uint64_t ref_loaded_at, ref_tried_at;
    uint64_t ref_version, ref_loading_version; /* calendar_reference_version() of the copy / the load */
    int ref_loading, stopping;
    struct web_ref_wait *waiters;
};
struct web_worker *web_worker_of(h2o_req_t *req);
void web_ref_free(struct web_ref *r);
/* Fails the waiters (worker_stop). */
void web_ref_stop(struct web_worker *ww);

/* --- static assets (static.c; the generated assets.h holds them) --- */
/* The URL of an asset by its plain name ("citas.css" -> "/static/citas.<hash>.css"). */
const char *web_asset_url(const char *name);

#endif
