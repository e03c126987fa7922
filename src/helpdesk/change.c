/*
 * helpdesk: state changes and reassignment (audit record ticket.update in the same statement, only when the
 * ticket changed), statistics, the audited appointment look-up (appointment.lookup).
 */
#include "internal.h"

#include "citas/audit.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static h2o_req_t *reply_req(struct hd_req *st, const struct pg_reply *r)
{
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return NULL;
    }
    if (r->status != PG_OK) {
        hd_unavailable(req);
        server_async_release(st);
        return NULL;
    }
    return req;
}

/* --- PATCH --- */

struct patch {
    struct hd_req base;
    char assignee[24];
    int has_assignee;
};

static void on_patched(const struct pg_reply *r, void *ctx)
{
    struct patch *pt = ctx;
    h2o_req_t *req = reply_req(&pt->base, r);
    if (req == NULL)
        return;
    const PGresult *res = r->results[0];
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, HD_NTICKET_COLS)) {
        server_send_problem(req, 404, "Not found", "There is no ticket with that number.");
    } else if (PQgetisnull(res, 0, 0)) {
        if (pt->base.v[2] != NULL && strcmp(PQgetvalue(res, 0, HD_NTICKET_COLS + 1), "0") == 0) {
            hd_bad(req, 422, "assignee is not an active help-desk or sysadmin account.");
        } else {
            char d[160];
            snprintf(d, sizeof(d), "A ticket in state %s cannot go to state %s.",
                     PQgetvalue(res, 0, HD_NTICKET_COLS), pt->base.v[1] ? pt->base.v[1] : "?");
            server_send_problem(req, 409, "Illegal transition", d);
        }
    } else {
        struct json_buf b;
        json_buf_init(&b, &req->pool);
        hd_json_ticket(&b, NULL, res, 0);
        server_send_json(req, 200, b.base, b.len);
    }
    server_async_release(&pt->base);
}

static void on_patch_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct patch *pt = ctx;
    struct hd_req *st = &pt->base;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    if (st->number[0] == '\0') {
        server_send_problem(req, 404, "Not found", "There is no ticket with that number.");
        server_async_release(st);
        return;
    }
    const struct json_value *body = server_json_body(req);
    const char *state;
    size_t ls;
    if (body == NULL || hd_opt_str(req, body, "state", &state, &ls) < 0) {
        server_async_release(st);
        return;
    }
    const struct json_value *a = json_get(body, "assignee");
    const char *why = NULL;
    if (state != NULL && (strlen(state) != ls || !helpdesk_state_valid(state)))
        why = "state must be one of abierto, en_proceso, resuelto, cerrado.";
    else if (a != NULL && a->type != JSON_NULL &&
             (a->type != JSON_NUMBER || a->number < 1 || a->number > 9007199254740991.0 ||
              floor(a->number) != a->number))
        why = "assignee must be an account id (a positive integer) or null.";
    else if (state == NULL && a == NULL)
        why = "Nothing to change: give state and/or assignee.";
    if (why != NULL) {
        hd_bad(req, 422, why);
        server_async_release(st);
        return;
    }
    pt->has_assignee = a != NULL;
    if (a != NULL && a->type == JSON_NUMBER)
        snprintf(pt->assignee, sizeof(pt->assignee), "%" PRId64, (int64_t)a->number);
    snprintf(st->account, sizeof(st->account), "%" PRId64, s->account_id);
    st->v[0] = st->number;
    st->v[1] = state;
    st->v[2] = pt->assignee[0] ? pt->assignee : NULL;
    st->v[3] = pt->has_assignee ? "true" : "false";
    st->v[4] = st->account;
    st->v[5] = auth_role_name(s->role);
    st->v[6] = st->ip;
    if (pg_query(st->pg,
                 "WITH cur AS (SELECT id, state FROM tickets WHERE number = $1 FOR UPDATE), "
                 "asg AS (SELECT count(*) AS ok FROM accounts WHERE id = $3::bigint "
                 "AND role IN ('helpdesk', 'sysadmin') AND NOT disabled), "
                 "ok AS (SELECT cur.id, cur.state AS old FROM cur, asg WHERE ($2::text IS NULL OR "
                 "(cur.state, $2::text) IN (VALUES ('abierto', 'en_proceso'), ('abierto', 'cerrado'), "
                 "('en_proceso', 'resuelto'), ('en_proceso', 'abierto'), ('resuelto', 'cerrado'), "
                 "('resuelto', 'en_proceso'))) AND ($3::text IS NULL OR asg.ok = 1)), "
                 "upd AS (UPDATE tickets t SET state = coalesce($2::text, t.state), "
                 "assignee_id = CASE WHEN $4::boolean THEN $3::bigint ELSE t.assignee_id END, "
                 "closed_at = CASE WHEN $2::text = 'cerrado' THEN now() ELSE t.closed_at END, "
                 "updated_at = now() FROM ok WHERE t.id = ok.id RETURNING t.*), "
                 "n AS (INSERT INTO ticket_notes (ticket_id, author_id, kind, body) "
                 "SELECT ok.id, $5::bigint, 'change', concat_ws('; ', "
                 "CASE WHEN $2::text IS NOT NULL THEN 'estado: ' || ok.old || ' -> ' || $2::text END, "
                 "CASE WHEN $4::boolean THEN 'asignado a: ' || coalesce($3::text, 'nadie') END) FROM ok), "
                 "au AS (SELECT audit_add($5::bigint, $6, 'ticket.update', 'ticket:' || u.number, "
                 "jsonb_strip_nulls(jsonb_build_object('office', u.office_code, 'from', ok.old, 'state', "
                 "$2::text, 'assignee', CASE WHEN $4::boolean THEN coalesce($3::bigint, 0) END)), "
                 "nullif($7, '')::inet) FROM upd u, ok) "
                 "SELECT " HD_TICKET_COLS ", x.cur_state, x.asg_ok, (SELECT count(*) FROM au) "
                 "FROM (SELECT (SELECT state FROM cur) "
                 "AS cur_state, (SELECT ok FROM asg) AS asg_ok) x LEFT JOIN upd t ON true",
                 7, st->v, on_patched, pt) != 0) {
        hd_unavailable(req);
        server_async_release(st);
    }
}

void helpdesk_on_update(h2o_req_t *req, const struct server_params *p)
{
    hd_start(req, p, sizeof(struct patch), on_patch_session);
}

/* --- stats --- */

#define RANGE                                                                                                \
    "opened_at >= coalesce($1::date, coalesce($2::date, (now() AT TIME ZONE 'UTC')::date) - 29)::timestamp " \
    "AT TIME ZONE 'UTC' AND opened_at < (coalesce($2::date, (now() AT TIME ZONE 'UTC')::date) + "            \
    "1)::timestamp "                                                                                         \
    "AT TIME ZONE 'UTC'"

static void counts(struct json_buf *b, const char *key, const PGresult *r)
{
    json_open_object(b, key);
    for (int i = 0; i < PQntuples(r); i++)
        json_add_int(b, PQgetvalue(r, i, 0), strtoll(PQgetvalue(r, i, 1), NULL, 10));
    json_close_object(b);
}

static void on_stats(const struct pg_reply *r, void *ctx)
{
    struct hd_req *st = ctx;
    h2o_req_t *req = reply_req(st, r);
    if (req == NULL)
        return;
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_add_str(&b, "from", PQgetvalue(r->results[0], 0, 0));
    json_add_str(&b, "to", PQgetvalue(r->results[0], 0, 1));
    counts(&b, "by_concept", r->results[1]);
    counts(&b, "by_state", r->results[2]);
    json_open_array(&b, "per_day");
    const PGresult *d = r->results[3];
    for (int i = 0; i < PQntuples(d); i++) {
        json_open_object(&b, NULL);
        json_add_str(&b, "date", PQgetvalue(d, i, 0));
        json_add_str(&b, "concept", PQgetvalue(d, i, 1));
        json_add_str(&b, "state", PQgetvalue(d, i, 2));
        json_add_int(&b, "count", strtoll(PQgetvalue(d, i, 3), NULL, 10));
        json_close_object(&b);
    }
    json_close_array(&b);
    json_close_object(&b);
    server_send_json(req, 200, b.base, b.len);
    server_async_release(st);
}

static void on_stats_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct hd_req *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    size_t lf = 0, lt = 0;
    const char *from = server_query(req, "from", &lf), *to = server_query(req, "to", &lt);
    if ((from != NULL && !hd_date_valid(from, lf)) || (to != NULL && !hd_date_valid(to, lt)) ||
        (from != NULL && to != NULL && strcmp(from, to) > 0)) {
        hd_bad(req, 400, "from and to are dates (YYYY-MM-DD), from not after to.");
        server_async_release(st);
        return;
    }
    const char *v[] = {from, to};
    struct pg_tx *tx = pg_tx_begin(st->pg);
    if (tx == NULL) {
        hd_unavailable(req);
        server_async_release(st);
        return;
    }
    pg_tx_add(tx,
              "SELECT coalesce($1::date, coalesce($2::date, (now() AT TIME ZONE 'UTC')::date) - 29)::text, "
              "coalesce($2::date, (now() AT TIME ZONE 'UTC')::date)::text",
              2, v);
    pg_tx_add(tx, "SELECT concept, count(*) FROM tickets WHERE " RANGE " GROUP BY 1 ORDER BY 1", 2, v);
    pg_tx_add(tx, "SELECT state, count(*) FROM tickets WHERE " RANGE " GROUP BY 1 ORDER BY 1", 2, v);
    pg_tx_add(tx,
              "SELECT to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), concept, state, count(*) "
              "FROM tickets WHERE " RANGE " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
              2, v);
    if (pg_tx_commit(tx, on_stats, st) != 0) {
        hd_unavailable(req);
        server_async_release(st);
    }
}

void helpdesk_on_stats(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    hd_start(req, NULL, sizeof(struct hd_req), on_stats_session);
}

/* --- appointment look-up (read-only, recorded) --- */

static void on_looked_up(const struct pg_reply *r, void *ctx)
{
    struct hd_req *st = ctx;
    h2o_req_t *req = reply_req(st, r);
    if (req == NULL)
        return;
    const PGresult *res = r->results[r->nresults - 1];
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_add_str(&b, "email", st->email);
    json_open_array(&b, "appointments");
    for (int i = 0; i < PQntuples(res); i++) {
        json_open_object(&b, NULL);
        json_add_str(&b, "code", PQgetvalue(res, i, 0));
        json_add_str(&b, "state", PQgetvalue(res, i, 1));
        json_add_str(&b, "office", PQgetvalue(res, i, 2));
        json_add_str(&b, "procedure", PQgetvalue(res, i, 3));
        json_add_str(&b, "start_utc", PQgetvalue(res, i, 4));
        json_add_str(&b, "local", PQgetvalue(res, i, 5));
        json_add_str(&b, "booked_at", PQgetvalue(res, i, 6));
        json_close_object(&b);
    }
    json_close_array(&b);
    json_close_object(&b);
    server_add_header(req, "cache-control", "no-store");
    server_send_json(req, 200, b.base, b.len);
    server_async_release(st);
}

static void on_lookup_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct hd_req *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    size_t le = 0;
    const char *email = server_query(req, "email", &le), *why = NULL;
    if (email == NULL || strlen(email) != le || auth_email_parse(email, le, st->email, &why) != 0) {
        hd_bad(req, 400, "email must be a valid address.");
        server_async_release(st);
        return;
    }
    snprintf(st->account, sizeof(st->account), "%" PRId64, s->account_id);
    const char *ins[] = {st->account, st->email, st->ip};
    const char *sel[] = {st->email};
    struct pg_tx *tx = pg_tx_begin(st->pg);
    if (tx == NULL) {
        hd_unavailable(req);
        server_async_release(st);
        return;
    }
    pg_tx_add(tx,
              "INSERT INTO helpdesk_lookups (account_id, subject_email, client_ip) "
              "VALUES ($1::bigint, $2, nullif($3, '')::inet)",
              3, ins);
    char subject[AUTH_EMAIL_MAX + 16];
    snprintf(subject, sizeof(subject), "citizen:%s", st->email);
    const struct audit_event ev = {.actor_account = s->account_id,
                                   .actor_role = auth_role_name(s->role),
                                   .action = "appointment.lookup",
                                   .subject = subject,
                                   .client_ip = st->ip[0] ? st->ip : NULL};
    audit_tx_add(tx, &ev); /* a failed add makes the commit fail: the look-up is then refused */
    pg_tx_add(
        tx,
        "SELECT a.code, a.state, a.office_code, a.procedure_code, " TS(
            "s.starts_at") ", "
                           "to_char(s.local_start, 'YYYY-MM-DD\"T\"HH24:MI'), " TS(
                               "a.created_at") " "
                                               "FROM appointments a JOIN accounts c ON c.id = a.account_id "
                                               "JOIN slots s ON s.id = a.slot_id "
                                               "WHERE c.email = $1 ORDER BY s.starts_at, a.id LIMIT 500",
        1, sel);
    if (pg_tx_commit(tx, on_looked_up, st) != 0) {
        hd_unavailable(req);
        server_async_release(st);
    }
}

void helpdesk_on_lookup(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    hd_start(req, NULL, sizeof(struct hd_req), on_lookup_session);
}
