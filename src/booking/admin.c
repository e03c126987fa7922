/*
 * Staff routes: GET /api/v1/admin/offices/{code}/agenda?date=YYYY-MM-DD (JSON; CSV with Accept: text/csv or
 * ?format=csv), POST /api/v1/admin/appointments/{code}/check-in and .../no-show. Staff of the office only
 * (auth_require with the office: consular_staff, consular_admin, sysadmin); for check-in and no-show the
 * appointment's office must be the session's office unless the session has none (sysadmin, network admin).
 * Viewing an agenda (citizens' names and documents) is an audit record, agenda.view, in the same
 * transaction as the read (audit_add(), sql/010); check-in and no-show are recorded from booking_events.
 */
#include "internal.h"

#include "citas/auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct staff {
    struct bk_worker *bw;
    int csv, no_show;
    char office[BK_OFFICE_MAX + 1];
    char date[11];
    char code[BOOKING_CODE_LEN + 1];
    char ip[64];
};

/* --- agenda --- */

static void on_agenda(const struct pg_reply *r, void *ctx)
{
    struct staff *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    if (r->status != PG_OK) {
        bk_db_failed(req, st);
        return;
    }
    const PGresult *res = r->results[r->nresults - 1];
    int n = PQntuples(res);
    static const char *const cols[] = {
        "time", "slot", "seat", "code", "state", "procedure", "name", "document_type", "document_number",
        "start"};
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    if (st->csv) {
        for (int c = 0; c < 10; c++)
            server_csv_field(&b, cols[c], c == 9);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 10; c++)
                server_csv_field(&b, PQgetvalue(res, i, c), c == 9);
        char cd[96];
        snprintf(cd, sizeof(cd), "attachment; filename=\"agenda-%s-%s.csv\"", st->office,
                 n > 0 ? PQgetvalue(res, 0, 10) : st->date);
        server_add_header(req, "content-disposition", cd);
        server_send(req, 200, "text/csv; charset=utf-8", b.base ? b.base : "", b.len);
        server_async_release(st);
        return;
    }
    json_open_object(&b, NULL);
    json_add_str(&b, "office", st->office);
    if (st->date[0])
        json_add_str(&b, "date", st->date);
    json_open_array(&b, "appointments");
    for (int i = 0; i < n; i++) {
        json_open_object(&b, NULL);
        json_add_str(&b, "time", PQgetvalue(res, i, 0));
        json_add_int(&b, "slot", strtoll(PQgetvalue(res, i, 1), NULL, 10));
        json_add_int(&b, "seat", strtoll(PQgetvalue(res, i, 2), NULL, 10));
        json_add_str(&b, "code", PQgetvalue(res, i, 3));
        json_add_str(&b, "state", PQgetvalue(res, i, 4));
        json_add_str(&b, "procedure", PQgetvalue(res, i, 5));
        json_add_str(&b, "name", PQgetvalue(res, i, 6));
        json_add_str(&b, "document_type", PQgetvalue(res, i, 7));
        json_add_str(&b, "document_number", PQgetvalue(res, i, 8));
        json_add_str(&b, "start", PQgetvalue(res, i, 9));
        json_close_object(&b);
    }
    json_close_array(&b);
    json_close_object(&b);
    server_send_json(req, 200, b.base, b.len);
    server_async_release(st);
}

static void on_agenda_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct staff *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    const char *v[] = {st->office, st->date[0] ? st->date : NULL};
    char acct[24];
    snprintf(acct, sizeof(acct), "%" PRId64, s->account_id);
    const char *va[] = {
        st->office, st->date[0] ? st->date : NULL, acct, auth_role_name(s->role), st->csv ? "csv" : "json",
        st->ip};
    struct pg_tx *tx = pg_tx_begin(st->bw->pg);
    if (tx == NULL) {
        bk_db_failed(req, st);
        return;
    }
    pg_tx_add(
        tx,
        "SELECT audit_add($3::bigint, $4, 'agenda.view', 'agenda:' || o.code || ':' || d.day, "
        "jsonb_build_object('office', o.code, 'date', d.day, 'format', $5::text), nullif($6, '')::inet) "
        "FROM offices o, LATERAL (SELECT coalesce($2::date, (now() AT TIME ZONE o.time_zone)::date)::text "
        "AS day) d WHERE o.code = $1",
        6, va);
    pg_tx_add(tx,
              "WITH d AS (SELECT coalesce($2::date, (now() AT TIME ZONE time_zone)::date) AS day, time_zone "
              "FROM offices WHERE code = $1) "
              "SELECT to_char(s.local_start, 'HH24:MI'), s.id, a.seat, a.code, a.state, a.procedure_code, "
              "coalesce(acc.full_name, ''), a.document_type, a.document_number, "
              "calendar_iso(s.starts_at, d.time_zone), d.day::text "
              "FROM d JOIN slots s ON s.office_code = $1 AND s.local_start >= d.day AND "
              "s.local_start < d.day + 1 "
              "JOIN appointments a ON a.slot_id = s.id AND a.state <> 'cancelled' "
              "LEFT JOIN accounts acc ON acc.id = a.account_id ORDER BY s.local_start, a.seat",
              2, v);
    if (pg_tx_commit(tx, on_agenda, st) != 0) {
        bk_db_failed(req, st);
    }
}

void booking_on_agenda(h2o_req_t *req, const struct server_params *p)
{
    struct bk_worker *bw = bk_worker_of(req);
    if (bw == NULL) {
        bk_unavailable(req, "Booking");
        return;
    }
    if (!bk_office_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no office with this code.");
        return;
    }
    size_t len = 0;
    const char *date = server_query(req, "date", &len);
    if (date != NULL && server_parse_date(date, len) < 0) {
        server_send_problem(req, 400, "Bad request", "date: a real date written YYYY-MM-DD expected.");
        return;
    }
    struct staff *st = server_async_alloc(req, sizeof(*st));
    st->bw = bw;
    snprintf(st->office, sizeof(st->office), "%.*s", (int)p->v[0].len, p->v[0].base);
    if (date != NULL)
        snprintf(st->date, sizeof(st->date), "%s", date);
    server_client_ip(req, st->ip);
    const char *fmt = server_query(req, "format", &len);
    const char *acc = server_header(req, "accept", &len);
    st->csv = (fmt != NULL && strcmp(fmt, "csv") == 0) || (acc != NULL && strstr(acc, "text/csv") != NULL);
    auth_require(req, BK_STAFF_ROLES, st->office, on_agenda_session, st);
}

/* --- check-in and no-show --- */

static void on_marked(const struct pg_reply *r, void *ctx)
{
    struct staff *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    if (r->status != PG_OK || r->nresults != 2) {
        bk_db_failed(req, st);
        return;
    }
    const PGresult *now = r->results[1];
    if (PQntuples(r->results[0]) == 1) {
        bk_send_state(req, st->code, st->no_show ? "no_show" : "checked_in");
    } else if (PQntuples(now) != 1) {
        server_send_problem(req, 404, "Not found", "There is no appointment with this code.");
    } else if (st->office[0] != '\0' && strcmp(PQgetvalue(now, 0, 1), st->office) != 0) {
        server_send_problem(req, 403, "Forbidden", "This appointment belongs to another office.");
    } else if (strcmp(PQgetvalue(now, 0, 0), "active") == 0) {
        server_send_problem(req, 409, "Too early",
                            "An appointment is marked no-show only once its time has come.");
    } else {
        char d[120];
        snprintf(d, sizeof(d), "This appointment is %s.", PQgetvalue(now, 0, 0));
        server_send_problem(req, 409, "Conflict", d);
    }
    server_async_release(st);
}

static void on_mark_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct staff *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    char acct[24];
    snprintf(acct, sizeof(acct), "%" PRId64, s->account_id);
    const char *state = st->no_show ? "no_show" : "checked_in";
    const char *v[] = {st->code, s->office, state, acct, st->ip[0] ? st->ip : NULL};
    struct pg_tx *tx = pg_tx_begin(st->bw->pg);
    if (tx == NULL) {
        bk_db_failed(req, st);
        return;
    }
    pg_tx_add(
        tx,
        "WITH u AS (UPDATE appointments a SET state = $3, attended_at = now() FROM slots s "
        "WHERE a.code = $1 AND a.state = 'active' AND ($2 = '' OR a.office_code = $2) AND s.id = a.slot_id "
        "AND ($3 = 'checked_in' OR s.starts_at <= now()) RETURNING a.id), "
        "e AS (INSERT INTO booking_events (appointment_id, action, account_id, client_ip) "
        "SELECT id, $3, $4::bigint, $5::inet FROM u) SELECT id FROM u",
        5, v);
    /* after the update: why it changed nothing (unknown 404, another office 403, state 409) */
    snprintf(st->office, sizeof(st->office), "%s", s->office);
    const char *v2[] = {st->code};
    pg_tx_add(tx, "SELECT state, office_code FROM appointments WHERE code = $1", 1, v2);
    if (pg_tx_commit(tx, on_marked, st) != 0) {
        bk_db_failed(req, st);
    }
}

static void mark(h2o_req_t *req, const struct server_params *p, int no_show)
{
    struct bk_worker *bw = bk_staff_code_route(req, p);
    if (bw == NULL)
        return;
    struct staff *st = server_async_alloc(req, sizeof(*st));
    st->bw = bw;
    st->no_show = no_show;
    memcpy(st->code, p->v[0].base, BOOKING_CODE_LEN);
    server_client_ip(req, st->ip);
    auth_require(req, BK_STAFF_ROLES, NULL, on_mark_session, st);
}

void booking_on_check_in(h2o_req_t *req, const struct server_params *p)
{
    mark(req, p, 0);
}

void booking_on_no_show(h2o_req_t *req, const struct server_params *p)
{
    mark(req, p, 1);
}
