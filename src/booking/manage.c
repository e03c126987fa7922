/*
 * The citizen's appointments: GET /api/v1/appointments, GET /api/v1/appointments/{code}[.ics],
 * DELETE /api/v1/appointments/{code}. Only the session's own appointments exist for these routes: another
 * account's code answers 404, exactly like a code that does not exist.
 */
#include "internal.h"

#include "citas/auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { OP_LIST, OP_GET, OP_ICS, OP_CANCEL };

struct mine {
    struct bk_worker *bw;
    enum op op;
    int en;
    char code[BOOKING_CODE_LEN + 1];
    char ip[64];
    int64_t account;
    /* cancel: what Redis needs once PostgreSQL has committed */
    char office[BK_OFFICE_MAX + 1];
    int64_t slot;
    int seat;
};

/* Columns of sql_view (in this order) for bk_view. */
#define VIEW_COLS                                                                                            \
    "a.code, a.state, a.office_code, CASE WHEN $2 = 'en' THEN o.name_en ELSE o.name_es END, "                \
    "a.procedure_code, "                                                                                     \
    "CASE WHEN $2 = 'en' THEN p.name_en ELSE p.name_es END, a.slot_id, a.seat, "                             \
    "extract(epoch FROM s.starts_at)::bigint, to_char(s.local_start, 'YYYY-MM-DD\"T\"HH24:MI'), "            \
    "o.time_zone, "                                                                                          \
    "coalesce(o.address, ''), coalesce(p.duration_min, 30) "                                                 \
    "FROM appointments a JOIN slots s ON s.id = a.slot_id JOIN offices o ON o.code = a.office_code "         \
    "JOIN procedures p ON p.code = a.procedure_code "

static void row_view(const PGresult *r, int i, struct bk_view *v)
{
    memset(v, 0, sizeof(*v));
    v->code = PQgetvalue(r, i, 0);
    v->state = PQgetvalue(r, i, 1);
    v->office = PQgetvalue(r, i, 2);
    v->office_name = PQgetvalue(r, i, 3);
    v->procedure = PQgetvalue(r, i, 4);
    v->procedure_name = PQgetvalue(r, i, 5);
    bk_parse_i64(PQgetvalue(r, i, 6), strlen(PQgetvalue(r, i, 6)), &v->slot);
    v->seat = atoi(PQgetvalue(r, i, 7));
    const char *st = PQgetvalue(r, i, 8);
    v->start = strtoll(st, NULL, 10);
    v->local = PQgetvalue(r, i, 9);
    v->time_zone = PQgetvalue(r, i, 10);
    v->address = PQgetvalue(r, i, 11);
}

static void on_rows(const struct pg_reply *r, void *ctx)
{
    struct mine *m = ctx;
    h2o_req_t *req = server_async_req(m);
    if (req == NULL) {
        server_async_release(m);
        return;
    }
    if (r->status != PG_OK) {
        bk_db_failed(req, m);
        return;
    }
    const PGresult *res = r->results[0];
    int n = PQntuples(res);
    if (m->op != OP_LIST && n != 1) {
        server_send_problem(req, 404, "Not found", "You have no appointment with this code.");
        server_async_release(m);
        return;
    }
    struct bk_view v;
    if (m->op == OP_ICS) {
        row_view(res, 0, &v);
        char desc[120];
        snprintf(desc, sizeof(desc), "%s: %s", m->en ? "Appointment code" : "Código de cita", v.code);
        char *loc = h2o_mem_alloc_pool(&req->pool, strlen(v.office_name) + strlen(v.address) + 3);
        sprintf(loc, "%s, %s", v.office_name, v.address);
        size_t len = 0;
        char *ics = bk_ics(&req->pool, v.code, v.start, atoi(PQgetvalue(res, 0, 12)), v.procedure_name, loc,
                           desc, &len);
        char cd[64];
        snprintf(cd, sizeof(cd), "attachment; filename=\"cita-%s.ics\"", v.code);
        server_add_header(req, "content-disposition", cd);
        server_send(req, 200, "text/calendar; charset=utf-8", ics, len);
        server_async_release(m);
        return;
    }
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    if (m->op == OP_LIST) {
        json_open_object(&b, NULL);
        json_open_array(&b, "appointments");
        for (int i = 0; i < n; i++) {
            row_view(res, i, &v);
            bk_json_appointment(&b, NULL, &v);
        }
        json_close_array(&b);
        json_close_object(&b);
    } else {
        row_view(res, 0, &v);
        bk_json_appointment(&b, NULL, &v);
    }
    server_send_json(req, 200, b.base, b.len);
    server_async_release(m);
}

/* --- cancel: PostgreSQL first, then the seat goes back in Redis at once --- */

static void on_seat_back(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    (void)reply;
    (void)err; /* if Redis missed it, the seat comes back at the next rebuild */
    struct mine *m = ctx;
    h2o_req_t *req = server_async_req(m);
    if (req != NULL)
        bk_send_state(req, m->code, "cancelled");
    server_async_release(m);
}

static void on_cancelled(const struct pg_reply *r, void *ctx)
{
    struct mine *m = ctx;
    h2o_req_t *req = server_async_req(m);
    if (r->status != PG_OK) {
        if (req != NULL)
            bk_db_failed(req, m);
        return;
    }
    const PGresult *res = r->results[0];
    if (PQntuples(res) != 1) {
        if (req != NULL)
            server_send_problem(req, 404, "Not found", "You have no active appointment with this code.");
        server_async_release(m);
        return;
    }
    int64_t slot = 0;
    bk_parse_i64(PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)), &slot);
    int seat = atoi(PQgetvalue(res, 0, 1));
    const char *office = PQgetvalue(res, 0, 2);
    char hash[65], person[BK_KEY_MAX];
    booking_doc_hash(PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5), hash);
    bk_key_person(person, office, hash, PQgetvalue(res, 0, 3));
    if (bk_run_cancel(m->bw, office, slot, seat, person, m->code, on_seat_back, m) != 0)
        on_seat_back(NULL, NULL, "not connected", m);
}

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct mine *m = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(m);
        return;
    }
    m->account = s->account_id;
    char acct[24];
    snprintf(acct, sizeof(acct), "%" PRId64, s->account_id);
    const char *lang = m->en ? "en" : "es";
    int rc;
    if (m->op == OP_LIST) {
        const char *v[] = {acct, lang};
        rc = pg_query(m->bw->pg, "SELECT " VIEW_COLS "WHERE a.account_id = $1 ORDER BY s.starts_at, a.id", 2,
                      v, on_rows, m);
    } else if (m->op == OP_CANCEL) {
        const char *v[] = {m->code, acct, m->ip[0] ? m->ip : NULL};
        rc = pg_query(
            m->bw->pg,
            "WITH c AS (UPDATE appointments SET state = 'cancelled', cancelled_at = now(), "
            "cancel_reason = 'citizen' WHERE code = $1 AND account_id = $2 AND state = 'active' "
            "RETURNING id, account_id, slot_id, seat, office_code, procedure_code, document_type, "
            "document_number), "
            "e AS (INSERT INTO booking_events (appointment_id, action, account_id, client_ip) "
            "SELECT id, 'cancelled', account_id, $3::inet FROM c) "
            "SELECT slot_id, seat, office_code, procedure_code, document_type, document_number FROM c",
            3, v, on_cancelled, m);
    } else {
        const char *v[] = {acct, lang, m->code};
        rc = pg_query(m->bw->pg, "SELECT " VIEW_COLS "WHERE a.account_id = $1 AND a.code = $3", 3, v, on_rows,
                      m);
    }
    if (rc != 0) {
        bk_db_failed(req, m);
    }
}

static void run(h2o_req_t *req, const struct server_params *p, enum op op)
{
    struct bk_worker *bw = bk_worker_of(req);
    if (bw == NULL) {
        bk_unavailable(req, "Booking");
        return;
    }
    char code[BOOKING_CODE_LEN + 1] = "";
    if (op != OP_LIST) {
        h2o_iovec_t c = p->v[0];
        if (op == OP_GET && c.len == BOOKING_CODE_LEN + 4 &&
            memcmp(c.base + BOOKING_CODE_LEN, ".ics", 4) == 0) {
            op = OP_ICS;
            c.len = BOOKING_CODE_LEN;
        }
        if (!booking_code_valid(c.base, c.len)) {
            server_send_problem(req, 404, "Not found", "You have no appointment with this code.");
            return;
        }
        memcpy(code, c.base, BOOKING_CODE_LEN);
    }
    struct mine *m = server_async_alloc(req, sizeof(*m));
    m->bw = bw;
    m->op = op;
    memcpy(m->code, code, sizeof(code));
    server_client_ip(req, m->ip);
    size_t len = 0;
    const char *q = server_query(req, "lang", &len);
    const char *al = server_header(req, "accept-language", &len);
    m->en = q != NULL ? strcmp(q, "en") == 0 : (al != NULL && strncmp(al, "en", 2) == 0);
    auth_load_session(req, on_session, m);
}

void booking_on_list(h2o_req_t *req, const struct server_params *p)
{
    run(req, p, OP_LIST);
}

void booking_on_get(h2o_req_t *req, const struct server_params *p)
{
    run(req, p, OP_GET);
}

void booking_on_cancel(h2o_req_t *req, const struct server_params *p)
{
    run(req, p, OP_CANCEL);
}
