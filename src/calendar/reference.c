/*
 * calendar: the per-worker reference cache (active offices, the procedures each offers, as prebuilt JSON)
 * and the public office routes it answers. PostgreSQL builds the JSON; a refresh replaces the snapshot.
 */
#include "internal.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define REF_RETRY_MS 5000

static const char sql_ref[] =
    "SELECT o.code, upper(o.country), lower(o.city),"
    " lower(concat_ws(' ', o.code, o.name_es, o.name_en, o.city, o.country_name_es, o.country_name_en)),"
    " json_build_object('code', o.code, 'kind', o.kind, 'name_es', o.name_es, 'name_en', o.name_en,"
    "   'city', o.city, 'country', o.country, 'country_name_es', o.country_name_es,"
    "   'country_name_en', o.country_name_en, 'time_zone', o.time_zone)::text,"
    " json_build_object('code', o.code, 'kind', o.kind, 'name_es', o.name_es, 'name_en', o.name_en,"
    "   'city', o.city, 'country', o.country, 'country_name_es', o.country_name_es,"
    "   'country_name_en', o.country_name_en, 'time_zone', o.time_zone, 'address', o.address,"
    "   'phone', o.phone, 'email', o.email,"
    "   'hours', coalesce((SELECT json_agg(json_build_object('weekday', h.weekday,"
    "       'opens', to_char(h.opens, 'HH24:MI'), 'closes', to_char(h.closes, 'HH24:MI'))"
    "       ORDER BY h.weekday, h.opens) FROM office_hours h WHERE h.office_code = o.code), '[]'))::text,"
    " coalesce((SELECT json_agg(json_build_object('code', p.code, 'name_es', p.name_es, 'name_en', p.name_en,"
    "   'duration_min', p.duration_min, 'needs_appointment', p.needs_appointment,"
    "   'documents_es', p.documents_es, 'documents_en', p.documents_en) ORDER BY p.code)"
    "   FROM office_procedures op JOIN procedures p ON p.code = op.procedure_code"
    "   WHERE op.office_code = o.code), '[]')::text,"
    " ',' || coalesce((SELECT string_agg(op.procedure_code, ',') FROM office_procedures op"
    "   WHERE op.office_code = o.code), '') || ','"
    " FROM offices o WHERE o.active ORDER BY o.country, o.city, o.code";

/* Bumped by every committed admin change of reference data; snapshots remember the value they were loaded
 * under. */
static atomic_uint_fast64_t ref_version = 1;

void cal_ref_invalidate(void)
{
    atomic_fetch_add(&ref_version, 1);
}

uint64_t calendar_reference_version(void)
{
    return (uint64_t)atomic_load(&ref_version);
}

void cal_ref_free(struct cal_ref *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct cal_office *o = &r->offices[i];
        free(o->code);
        free(o->country);
        free(o->city_lc);
        free(o->search_lc);
        free(o->summary);
        free(o->full);
        free(o->procedures);
        free(o->proc_codes);
    }
    free(r->offices);
    free(r);
}

static struct cal_ref *build(const PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 8)
        return NULL;
    struct cal_ref *r = calloc(1, sizeof(*r));
    size_t n = (size_t)PQntuples(res);
    if (r == NULL || (r->offices = calloc(n > 0 ? n : 1, sizeof(*r->offices))) == NULL) {
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct cal_office *o = &r->offices[i];
        r->n = i + 1;
        char **f[] = {&o->code,    &o->country, &o->city_lc,    &o->search_lc,
                      &o->summary, &o->full,    &o->procedures, &o->proc_codes};
        for (int k = 0; k < 8; k++) {
            if ((*f[k] = strdup(PQgetvalue(res, (int)i, k))) == NULL) {
                cal_ref_free(r);
                return NULL;
            }
        }
    }
    return r;
}

static void wake(struct cal_worker *cw)
{
    struct cal_wait *w = cw->ref_waiters;
    cw->ref_waiters = NULL;
    while (w != NULL) {
        struct cal_wait *next = w->next;
        w->on_ready(w);
        w = next;
    }
}

static void on_ref(const struct pg_reply *reply, void *ctx)
{
    struct cal_worker *cw = ctx;
    cw->ref_loading = 0;
    if (reply->status == PG_OK && reply->nresults == 1) {
        struct cal_ref *r = build(reply->results[0]);
        if (r != NULL) {
            cal_ref_free(cw->ref);
            cw->ref = r;
            cw->ref_loaded_at = ring_now(cw->ring);
            cw->ref_version = cw->ref_loading_version;
        }
    }
    /* a reload after an admin change that failed: the old snapshot answers (requests stop waiting for this
     * version) until the TTL tries again */
    if (cw->ref != NULL && cw->ref_version != cw->ref_loading_version)
        cw->ref_version = cw->ref_loading_version;
    wake(cw);
}

int cal_ref_ensure(struct cal_worker *cw, struct cal_wait *w, int force_refresh)
{
    uint64_t now = ring_now(cw->ring);
    uint64_t version = calendar_reference_version();
    /* an admin changed reference data since this snapshot: requests wait for the new one */
    int changed = cw->ref != NULL && cw->ref_version != version;
    int fresh = cw->ref != NULL && now - cw->ref_loaded_at < cw->ref_ttl_ms && !changed;
    if (fresh && !force_refresh)
        return 0;
    if (!cw->ref_loading) {
        /* tries are rate-limited: a failed or recent one leaves the caller with what there is */
        uint64_t gap = changed ? 0 : force_refresh ? REF_RETRY_MS : cw->ref == NULL ? 1000 : 0;
        if (cw->stopping || (cw->ref_tried_at != 0 && now - cw->ref_tried_at < gap))
            return 0;
        cw->ref_tried_at = now;
        if (pg_query(cw->pg, sql_ref, 0, NULL, on_ref, cw) != 0)
            return 0;
        cw->ref_loading = 1;
        cw->ref_loading_version = version;
    }
    if (cw->ref != NULL && !force_refresh && !changed)
        return 0; /* a stale snapshot answers while the refresh runs */
    w->next = cw->ref_waiters;
    cw->ref_waiters = w;
    return 1;
}

const struct cal_office *cal_ref_office(const struct cal_worker *cw, const char *code)
{
    if (cw->ref == NULL)
        return NULL;
    for (size_t i = 0; i < cw->ref->n; i++)
        if (strcmp(cw->ref->offices[i].code, code) == 0)
            return &cw->ref->offices[i];
    return NULL;
}

int cal_office_offers(const struct cal_office *o, const char *procedure)
{
    size_t n = strlen(procedure);
    for (const char *p = strstr(o->proc_codes, procedure); p != NULL; p = strstr(p + 1, procedure))
        if (p[-1] == ',' && p[n] == ',')
            return 1;
    return 0;
}

/* --- handlers --- */

enum ref_route { ROUTE_LIST, ROUTE_OFFICE, ROUTE_PROCEDURES };

struct ref_req {
    struct cal_wait wait;
    enum ref_route route;
    char code[CAL_CODE_MAX + 1];
    int refreshed;
};

static void answer(struct ref_req *st);

static void on_ready(struct cal_wait *w)
{
    struct ref_req *st = (struct ref_req *)w;
    answer(st);
}

static void lower_ascii(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void answer_list(h2o_req_t *req, const struct cal_ref *ref)
{
    size_t clen = 0, tlen = 0, qlen = 0;
    const char *country = server_query(req, "country", &clen);
    const char *city = server_query(req, "city", &tlen);
    const char *q = server_query(req, "q", &qlen);
    if ((country != NULL &&
         (clen != 2 || !isalpha((unsigned char)country[0]) || !isalpha((unsigned char)country[1]))) ||
        (city != NULL && (tlen > 100 || !json_utf8_valid(city, tlen))) ||
        (q != NULL && (qlen > 100 || !json_utf8_valid(q, qlen)))) {
        server_send_problem(
            req, 400, "Bad request",
            "country is a two-letter ISO code; city and q are UTF-8 text of at most 100 bytes.");
        return;
    }
    char cc[3] = "";
    if (country != NULL) {
        cc[0] = (char)toupper((unsigned char)country[0]);
        cc[1] = (char)toupper((unsigned char)country[1]);
        cc[2] = '\0';
    }
    char *city_lc = city != NULL ? h2o_mem_alloc_pool(&req->pool, tlen + 1) : NULL;
    char *q_lc = q != NULL ? h2o_mem_alloc_pool(&req->pool, qlen + 1) : NULL;
    if (city_lc != NULL) {
        memcpy(city_lc, city, tlen + 1);
        lower_ascii(city_lc);
    }
    if (q_lc != NULL) {
        memcpy(q_lc, q, qlen + 1);
        lower_ascii(q_lc);
    }
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_open_array(&b, "offices");
    size_t count = 0;
    for (size_t i = 0; i < ref->n; i++) {
        const struct cal_office *o = &ref->offices[i];
        if ((country != NULL && strcmp(o->country, cc) != 0) ||
            (city_lc != NULL && strcmp(o->city_lc, city_lc) != 0) ||
            (q_lc != NULL && strstr(o->search_lc, q_lc) == NULL))
            continue;
        json_add_raw(&b, NULL, o->summary, strlen(o->summary));
        count++;
    }
    json_close_array(&b);
    json_add_int(&b, "count", (long long)count);
    json_close_object(&b);
    cal_send_cacheable(req, b.base, b.len, 60);
}

static void answer(struct ref_req *st)
{
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    struct cal_worker *cw = cal_worker_of(req);
    if (cw->ref == NULL) {
        server_send_problem(req, 503, "Service unavailable", "The office directory cannot be read now.");
        server_async_release(st);
        return;
    }
    if (st->route == ROUTE_LIST) {
        answer_list(req, cw->ref);
        server_async_release(st);
        return;
    }
    const struct cal_office *o = cal_ref_office(cw, st->code);
    if (o == NULL && !st->refreshed) {
        st->refreshed = 1; /* maybe created since the snapshot: refresh (rate-limited) and look again */
        if (cal_ref_ensure(cw, &st->wait, 1))
            return;
    }
    if (o == NULL) {
        server_send_problem(req, 404, "Not found", "There is no such office.");
    } else {
        const char *body = st->route == ROUTE_OFFICE ? o->full : o->procedures;
        if (st->route == ROUTE_PROCEDURES) {
            struct json_buf b;
            json_buf_init(&b, &req->pool);
            json_open_object(&b, NULL);
            json_add_str(&b, "office", o->code);
            json_add_raw(&b, "procedures", body, strlen(body));
            json_close_object(&b);
            cal_send_cacheable(req, b.base, b.len, 60);
        } else {
            cal_send_cacheable(req, body, strlen(body), 60);
        }
    }
    server_async_release(st);
}

static void start(h2o_req_t *req, const struct server_params *p, enum ref_route route)
{
    struct cal_worker *cw = cal_worker_of(req);
    if (cw == NULL) {
        server_send_problem(req, 503, "Service unavailable", "The calendar module is not running.");
        return;
    }
    struct ref_req *st = server_async_alloc(req, sizeof(*st));
    st->route = route;
    st->wait.on_ready = on_ready;
    if (route != ROUTE_LIST) {
        if (!cal_code_valid(p->v[0].base, p->v[0].len)) {
            server_send_problem(req, 404, "Not found", "There is no such office.");
            server_async_release(st);
            return;
        }
        memcpy(st->code, p->v[0].base, p->v[0].len);
        st->code[p->v[0].len] = '\0';
    }
    if (!cal_ref_ensure(cw, &st->wait, 0))
        answer(st);
}

void calendar_on_offices(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, ROUTE_LIST);
}

void calendar_on_office(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, ROUTE_OFFICE);
}

void calendar_on_procedures(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, ROUTE_PROCEDURES);
}
