/*
 * The offices and procedures the pages show, per worker, from PostgreSQL: loaded on first use and again
 * when older than web_reference_ttl_s (a stale copy answers while the new one loads, so a surge of page
 * views costs one query per worker per TTL). Requests arriving before the first load wait for it.
 */
#include "internal.h"
#include "citas/calendar.h"
#include "citas/pg.h"
#include "citas/ring.h"

#include <stdlib.h>
#include <string.h>

#define REF_RETRY_MS 2000

struct web_ref_wait {
    struct web_ref_wait *next;
    web_ref_cb cb;
    void *ctx;
    void *state; /* the request's async state */
};

static const char sql_offices[] = "SELECT code, kind, name_es, name_en, city, country, country_name_es, "
                                  "country_name_en, time_zone, address, "
                                  "coalesce(phone, ''), coalesce(email, ''), "
                                  "coalesce((SELECT string_agg(op.procedure_code, ',' ORDER BY "
                                  "op.procedure_code) FROM office_procedures op "
                                  "WHERE op.office_code = o.code), '') "
                                  "FROM offices o WHERE active ORDER BY country_name_es, city, code";
static const char sql_procs[] = "SELECT code, name_es, name_en, array_to_string(documents_es, E'\\n'), "
                                "array_to_string(documents_en, E'\\n'), "
                                "duration_min, needs_appointment FROM procedures ORDER BY code";

void web_ref_free(struct web_ref *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->noffices; i++) {
        struct web_office *o = &r->offices[i];
        char **f[] = {&o->code,    &o->kind,       &o->name_es,    &o->name_en, &o->city,
                      &o->country, &o->country_es, &o->country_en, &o->tz,      &o->address,
                      &o->phone,   &o->email,      &o->search};
        for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
            free(*f[k]);
        free(o->procs);
    }
    for (size_t i = 0; i < r->nprocs; i++) {
        struct web_proc *p = &r->procs[i];
        free(p->code);
        free(p->name_es);
        free(p->name_en);
        free(p->docs_es);
        free(p->docs_en);
    }
    free(r->offices);
    free(r->procs);
    free(r);
}

const struct web_proc *web_ref_proc(const struct web_ref *r, const char *code, size_t len)
{
    for (size_t i = 0; r != NULL && i < r->nprocs; i++)
        if (strlen(r->procs[i].code) == len && memcmp(r->procs[i].code, code, len) == 0)
            return &r->procs[i];
    return NULL;
}

const struct web_office *web_ref_office(const struct web_ref *r, const char *code, size_t len)
{
    for (size_t i = 0; r != NULL && i < r->noffices; i++)
        if (strlen(r->offices[i].code) == len && memcmp(r->offices[i].code, code, len) == 0)
            return &r->offices[i];
    return NULL;
}

int web_office_offers(const struct web_ref *r, const struct web_office *o, const struct web_proc *p)
{
    for (size_t i = 0; i < o->nprocs; i++)
        if (&r->procs[o->procs[i]] == p)
            return 1;
    return 0;
}

static char *pgdup(const PGresult *r, int row, int col)
{
    return strdup(PQgetvalue(r, row, col));
}

static char *search_text(const struct web_office *o)
{
    size_t n = strlen(o->code) + strlen(o->name_es) + strlen(o->name_en) + strlen(o->city) +
               strlen(o->country_es) + strlen(o->country_en) + 8;
    char *raw = malloc(n);
    if (raw == NULL)
        return NULL;
    char *p = raw;
    const char *parts[] = {o->code, o->name_es, o->name_en, o->city, o->country_es, o->country_en};
    for (size_t i = 0; i < 6; i++) {
        size_t l = strlen(parts[i]);
        memcpy(p, parts[i], l);
        p += l;
        *p++ = ' ';
    }
    *p = '\0';
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    char *folded = strdup(web_fold(&pool, raw, strlen(raw)));
    h2o_mem_clear_pool(&pool);
    free(raw);
    return folded;
}

static int office_procs(struct web_ref *ref, struct web_office *o, const char *list)
{
    size_t cap = 1;
    for (const char *c = list; *c; c++)
        cap += *c == ',';
    if ((o->procs = calloc(cap, sizeof(*o->procs))) == NULL)
        return -1;
    const char *s = list;
    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        const struct web_proc *p = web_ref_proc(ref, s, n);
        if (p != NULL)
            o->procs[o->nprocs++] = (size_t)(p - ref->procs);
        s = comma != NULL ? comma + 1 : s + n;
    }
    return 0;
}

static struct web_ref *build(const PGresult *ro, const PGresult *rp)
{
    struct web_ref *ref = calloc(1, sizeof(*ref));
    if (ref == NULL)
        return NULL;
    int np = PQntuples(rp), no = PQntuples(ro);
    ref->procs = calloc(np > 0 ? (size_t)np : 1, sizeof(*ref->procs));
    ref->offices = calloc(no > 0 ? (size_t)no : 1, sizeof(*ref->offices));
    if (ref->procs == NULL || ref->offices == NULL || PQnfields(rp) != 7 || PQnfields(ro) != 13)
        goto fail;
    for (int i = 0; i < np; i++) {
        struct web_proc *p = &ref->procs[i];
        ref->nprocs = (size_t)i + 1;
        p->code = pgdup(rp, i, 0);
        p->name_es = pgdup(rp, i, 1);
        p->name_en = pgdup(rp, i, 2);
        p->docs_es = pgdup(rp, i, 3);
        p->docs_en = pgdup(rp, i, 4);
        p->duration_min = atoi(PQgetvalue(rp, i, 5));
        p->needs_appointment = strcmp(PQgetvalue(rp, i, 6), "t") == 0;
        if (!p->code || !p->name_es || !p->name_en || !p->docs_es || !p->docs_en)
            goto fail;
    }
    for (int i = 0; i < no; i++) {
        struct web_office *o = &ref->offices[i];
        ref->noffices = (size_t)i + 1;
        char **f[] = {&o->code,       &o->kind,       &o->name_es, &o->name_en, &o->city,  &o->country,
                      &o->country_es, &o->country_en, &o->tz,      &o->address, &o->phone, &o->email};
        for (int k = 0; k < 12; k++)
            if ((*f[k] = pgdup(ro, i, k)) == NULL)
                goto fail;
        if ((o->search = search_text(o)) == NULL || office_procs(ref, o, PQgetvalue(ro, i, 12)) != 0)
            goto fail;
    }
    return ref;
fail:
    web_ref_free(ref);
    return NULL;
}

static void wake(struct web_worker *ww)
{
    struct web_ref_wait *w = ww->waiters;
    ww->waiters = NULL;
    while (w != NULL) {
        struct web_ref_wait *next = w->next;
        h2o_req_t *req = server_async_req(w->state);
        if (req != NULL)
            w->cb(req, ww->ref, w->ctx);
        server_async_release(w->state);
        w = next;
    }
}

static void on_loaded(const struct pg_reply *reply, void *ctx)
{
    struct web_worker *ww = ctx;
    ww->ref_loading = 0;
    if (reply->status == PG_OK && reply->nresults == 2) {
        struct web_ref *r = build(reply->results[0], reply->results[1]);
        if (r != NULL) {
            web_ref_free(ww->ref);
            ww->ref = r;
            ww->ref_loaded_at = ring_now(ww->ring);
            ww->ref_version = ww->ref_loading_version;
        }
    }
    if (ww->ref != NULL) /* a failed reload after an admin change: the old copy answers until the TTL */
        ww->ref_version = ww->ref_loading_version;
    wake(ww);
}

/* Starts a load unless one runs or one was tried too recently; 1 if a load is running now. */
static int load(struct web_worker *ww)
{
    uint64_t now = ring_now(ww->ring);
    if (ww->ref_loading)
        return 1;
    /* the first try after an admin change (calendar_reference_version()) is not held back */
    if (ww->stopping || (ww->ref_tried_at != 0 && now - ww->ref_tried_at < REF_RETRY_MS &&
                         ww->ref_loading_version == calendar_reference_version()))
        return 0;
    ww->ref_tried_at = now;
    struct pg_tx *tx = pg_tx_begin(ww->pg);
    if (tx == NULL || pg_tx_add(tx, sql_offices, 0, NULL) != 0 || pg_tx_add(tx, sql_procs, 0, NULL) != 0) {
        pg_tx_abort(tx);
        return 0;
    }
    if (pg_tx_commit(tx, on_loaded, ww) != 0)
        return 0;
    ww->ref_loading = 1;
    ww->ref_loading_version = calendar_reference_version();
    return 1;
}

const struct web_ref *web_ref_now(h2o_req_t *req)
{
    struct web_worker *ww = web_worker_of(req);
    return ww != NULL ? ww->ref : NULL;
}

void web_with_ref(h2o_req_t *req, web_ref_cb cb, void *ctx)
{
    struct web_worker *ww = web_worker_of(req);
    if (ww == NULL) {
        cb(req, NULL, ctx);
        return;
    }
    uint64_t now = ring_now(ww->ring);
    /* an admin changed offices or their settings since this copy (calendar_reference_version()): wait for
     * the new one; a copy that is only old answers while the new one loads */
    if (ww->ref != NULL && ww->ref_version == calendar_reference_version()) {
        if (now - ww->ref_loaded_at >= ww->ref_ttl_ms)
            load(ww); /* the stale copy answers meanwhile */
        cb(req, ww->ref, ctx);
        return;
    }
    if (!load(ww)) {
        cb(req, ww->ref, ctx);
        return;
    }
    struct web_ref_wait *w = server_async_alloc(req, sizeof(*w));
    w->cb = cb;
    w->ctx = ctx;
    w->state = w;
    w->next = ww->waiters;
    ww->waiters = w;
}

void web_ref_stop(struct web_worker *ww)
{
    ww->stopping = 1;
}
