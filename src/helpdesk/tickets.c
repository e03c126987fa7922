/*
 * helpdesk: create, list (JSON or CSV), detail with notes, add a note. Each is an audit record in the same
 * transaction (ticket.create, ticket.list, ticket.view, ticket.note): changes through audit_add() in a CTE
 * over the changed row (no record when nothing changed), the list with audit_tx_add().
 */
#include "internal.h"

#include "citas/audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Common ending of every PostgreSQL callback: the request or NULL (state released). */
static h2o_req_t *reply_req(struct hd_req *st, const struct pg_reply *r)
{
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return NULL;
    }
    if (r->status != PG_OK) {
        if (r->status == PG_ERR_QUERY && strcmp(r->sqlstate, "23503") == 0)
            hd_bad(req, 422, "The office or account named does not exist.");
        else if (r->status == PG_ERR_QUERY && strncmp(r->sqlstate, "22", 2) == 0)
            hd_bad(req, 422, "A value is out of range.");
        else
            hd_unavailable(req);
        server_async_release(st);
        return NULL;
    }
    return req;
}

static void send_and_release(h2o_req_t *req, struct hd_req *st, int status, struct json_buf *b)
{
    server_send_json(req, status, b->base, b->len);
    server_async_release(st);
}

/* --- create --- */

static void on_created(const struct pg_reply *r, void *ctx)
{
    struct hd_req *st = ctx;
    h2o_req_t *req = reply_req(st, r);
    if (req == NULL)
        return;
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    hd_json_ticket(&b, NULL, r->results[0], 0);
    char loc[64];
    snprintf(loc, sizeof(loc), "/api/v1/tickets/%s", PQgetvalue(r->results[0], 0, 0));
    server_add_header(req, "location", loc);
    send_and_release(req, st, 201, &b);
}

static void on_create_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct hd_req *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    const struct json_value *body = server_json_body(req);
    if (body == NULL) {
        server_async_release(st);
        return;
    }
    const char *concept, *desc, *email, *code, *office;
    size_t lc, ld, le, lk, lo;
    if (hd_opt_str(req, body, "concept", &concept, &lc) < 0 ||
        hd_opt_str(req, body, "description", &desc, &ld) < 0 ||
        hd_opt_str(req, body, "email", &email, &le) < 0 ||
        hd_opt_str(req, body, "appointment_code", &code, &lk) < 0 ||
        hd_opt_str(req, body, "office", &office, &lo) < 0) {
        server_async_release(st);
        return;
    }
    const char *why = NULL, *email_why;
    if (concept == NULL || !helpdesk_concept_valid(concept))
        why = "concept must be one of sin_codigo, sin_citas, error_portal, datos_incorrectos, cancelacion, "
              "otro.";
    else if (desc == NULL || !hd_text_ok(desc, ld, HELPDESK_TEXT_MAX))
        why = "description must be UTF-8 text of 1 to 4000 bytes.";
    else if (email != NULL && auth_email_parse(email, le, st->email, &email_why) != 0)
        why = "email is not a valid address.";
    else if (code != NULL && (lk != 10 || strspn(code, "23456789ABCDEFGHJKLMNPQRSTUVWXYZ") != 10))
        why = "appointment_code must be 10 characters of the receipt alphabet.";
    else if (office != NULL && !auth_office_code_valid(office, lo))
        why = "office is not a valid office code.";
    if (why != NULL) {
        hd_bad(req, 422, why);
        server_async_release(st);
        return;
    }
    snprintf(st->account, sizeof(st->account), "%" PRId64, s->account_id);
    const char *v[] = {concept, desc,        email ? st->email : NULL, code,
                       office,  st->account, auth_role_name(s->role),  st->ip};
    if (pg_query(st->pg,
                 "WITH c AS (INSERT INTO ticket_counters (year, last) "
                 "VALUES (extract(year FROM now() AT TIME ZONE 'UTC')::int, 1) "
                 "ON CONFLICT (year) DO UPDATE SET last = ticket_counters.last + 1 RETURNING year, last), "
                 "t AS (INSERT INTO tickets (number, concept, description, citizen_email, appointment_code, "
                 "office_code, created_by) SELECT 'INC-' || c.year || '-' || lpad(c.last::text, 6, '0'), "
                 "$1, $2, $3, $4, $5, $6::bigint FROM c RETURNING *), "
                 "au AS (SELECT audit_add($6::bigint, $7, 'ticket.create', 'ticket:' || t.number, "
                 "jsonb_strip_nulls(jsonb_build_object('office', t.office_code, 'concept', t.concept, "
                 "'appointment', t.appointment_code)), nullif($8, '')::inet) FROM t) "
                 "SELECT " HD_TICKET_COLS " FROM t, au",
                 8, v, on_created, st) != 0) {
        hd_unavailable(req);
        server_async_release(st);
    }
}

void helpdesk_on_create(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    hd_start(req, NULL, sizeof(struct hd_req), on_create_session);
}

/* --- list --- */

static void on_listed(const struct pg_reply *r, void *ctx)
{
    struct hd_req *st = ctx;
    h2o_req_t *req = reply_req(st, r);
    if (req == NULL)
        return;
    const PGresult *res = r->results[r->nresults - 1];
    int n = PQntuples(res);
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    if (st->csv) {
        static const char *const cols[] = {
            "number", "state",    "concept",   "description", "email",     "appointment_code",
            "office", "assignee", "opened_at", "closed_at",   "created_by"};
        for (int c = 0; c < HD_NTICKET_COLS; c++)
            server_csv_field(&b, cols[c], c == HD_NTICKET_COLS - 1);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < HD_NTICKET_COLS; c++)
                server_csv_field(&b, PQgetvalue(res, i, c), c == HD_NTICKET_COLS - 1);
        server_add_header(req, "content-disposition", "attachment; filename=\"tickets.csv\"");
        server_send(req, 200, "text/csv; charset=utf-8", b.base ? b.base : "", b.len);
        server_async_release(st);
        return;
    }
    json_open_object(&b, NULL);
    json_open_array(&b, "tickets");
    for (int i = 0; i < n; i++)
        hd_json_ticket(&b, NULL, res, i);
    json_close_array(&b);
    json_close_object(&b);
    send_and_release(req, st, 200, &b);
}

static void on_list_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct hd_req *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    size_t ls = 0, lc = 0, lo = 0, lf = 0, lt = 0, lq = 0, lfmt = 0;
    const char *status = server_query(req, "status", &ls), *concept = server_query(req, "concept", &lc),
               *office = server_query(req, "office", &lo), *from = server_query(req, "from", &lf),
               *to = server_query(req, "to", &lt), *q = server_query(req, "q", &lq),
               *fmt = server_query(req, "format", &lfmt);
    const char *why = NULL;
    if (status != NULL && (strlen(status) != ls || !helpdesk_state_valid(status)))
        why = "status must be one of abierto, en_proceso, resuelto, cerrado.";
    else if (concept != NULL && (strlen(concept) != lc || !helpdesk_concept_valid(concept)))
        why = "concept is not a known concept.";
    else if (office != NULL && !auth_office_code_valid(office, lo))
        why = "office is not a valid office code.";
    else if ((from != NULL && !hd_date_valid(from, lf)) || (to != NULL && !hd_date_valid(to, lt)))
        why = "from and to are dates (YYYY-MM-DD).";
    else if (q != NULL && !hd_text_ok(q, lq, 200))
        why = "q must be UTF-8 text of 1 to 200 bytes.";
    else if (fmt != NULL && !(lfmt == 3 && memcmp(fmt, "csv", 3) == 0) &&
             !(lfmt == 4 && memcmp(fmt, "json", 4) == 0))
        why = "format must be csv or json.";
    if (why != NULL) {
        hd_bad(req, 400, why);
        server_async_release(st);
        return;
    }
    st->csv = fmt != NULL && lfmt == 3;
    const char *v[] = {status, concept, office, from, to, q};
    /* the record names the filters: what was looked at */
    static const char *const names[] = {"status", "concept", "office", "from", "to", "q"};
    struct json_buf d;
    json_buf_init(&d, &req->pool);
    json_open_object(&d, NULL);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (v[i] != NULL)
            json_add_str(&d, names[i], v[i]);
    json_add_str(&d, "format", st->csv ? "csv" : "json");
    json_close_object(&d);
    char *detail = json_buf_str(&d);
    const struct audit_event ev = {.actor_account = s->account_id,
                                   .actor_role = auth_role_name(s->role),
                                   .action = "ticket.list",
                                   .subject = "tickets",
                                   .detail_json = detail,
                                   .client_ip = st->ip[0] ? st->ip : NULL};
    struct pg_tx *tx = pg_tx_begin(st->pg);
    if (tx == NULL || audit_tx_add(tx, &ev) != 0 ||
        pg_tx_add(
            tx,
            "SELECT " HD_TICKET_COLS " FROM tickets t WHERE ($1::text IS NULL OR t.state = $1) "
            "AND ($2::text IS NULL OR t.concept = $2) AND ($3::text IS NULL OR t.office_code = $3) "
            "AND ($4::date IS NULL OR t.opened_at >= $4::date::timestamp AT TIME ZONE 'UTC') "
            "AND ($5::date IS NULL OR t.opened_at < ($5::date + 1)::timestamp AT TIME ZONE 'UTC') "
            "AND ($6::text IS NULL OR strpos(lower(t.number || ' ' || t.description || ' ' || "
            "coalesce(t.citizen_email, '') || ' ' || coalesce(t.appointment_code, '')), lower($6)) > 0) "
            "ORDER BY t.id DESC LIMIT 1000",
            6, v) != 0) {
        pg_tx_abort(tx);
        hd_unavailable(req);
        server_async_release(st);
        return;
    }
    if (pg_tx_commit(tx, on_listed, st) != 0) {
        hd_unavailable(req);
        server_async_release(st);
    }
}

void helpdesk_on_list(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    hd_start(req, NULL, sizeof(struct hd_req), on_list_session);
}

/* --- detail --- */

static void on_detail(const struct pg_reply *r, void *ctx)
{
    struct hd_req *st = ctx;
    h2o_req_t *req = reply_req(st, r);
    if (req == NULL)
        return;
    if (r->nresults < 3 || PQntuples(r->results[0]) != 1) {
        server_send_problem(req, 404, "Not found", "There is no ticket with that number.");
        server_async_release(st);
        return;
    }
    const PGresult *notes = r->results[1];
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    hd_json_ticket(&b, "ticket", r->results[0], 0);
    json_open_array(&b, "notes");
    for (int i = 0; i < PQntuples(notes); i++) {
        json_open_object(&b, NULL);
        json_add_str(&b, "at", PQgetvalue(notes, i, 0));
        json_add_int(&b, "author", strtoll(PQgetvalue(notes, i, 1), NULL, 10));
        json_add_str(&b, "author_name", PQgetvalue(notes, i, 2));
        json_add_str(&b, "kind", PQgetvalue(notes, i, 3));
        json_add_str(&b, "body", PQgetvalue(notes, i, 4));
        json_close_object(&b);
    }
    json_close_array(&b);
    json_close_object(&b);
    send_and_release(req, st, 200, &b);
}

static void on_get_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct hd_req *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    struct pg_tx *tx = pg_tx_begin(st->pg);
    snprintf(st->account, sizeof(st->account), "%" PRId64, s->account_id);
    const char *v[] = {st->number};
    const char *va[] = {st->number, st->account, auth_role_name(s->role), st->ip};
    if (tx == NULL) {
        hd_unavailable(req);
        server_async_release(st);
        return;
    }
    pg_tx_add(tx, "SELECT " HD_TICKET_COLS " FROM tickets t WHERE t.number = $1", 1, v);
    pg_tx_add(
        tx,
        "SELECT " TS("n.at") ", n.author_id, a.full_name, n.kind, n.body FROM ticket_notes n "
                             "JOIN tickets t ON t.id = n.ticket_id JOIN accounts a ON a.id = n.author_id "
                             "WHERE t.number = $1 ORDER BY n.id",
        1, v);
    /* a view of an existing ticket is recorded (its citizen's data was read) */
    pg_tx_add(tx,
              "SELECT audit_add($2::bigint, $3, 'ticket.view', 'ticket:' || number, "
              "jsonb_strip_nulls(jsonb_build_object('office', office_code)), nullif($4, '')::inet) "
              "FROM tickets WHERE number = $1",
              4, va);
    if (pg_tx_commit(tx, on_detail, st) != 0) {
        hd_unavailable(req);
        server_async_release(st);
    }
}

static void on_get_checked(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct hd_req *st = ctx;
    if (req != NULL && s != NULL && st->number[0] == '\0') {
        server_send_problem(req, 404, "Not found", "There is no ticket with that number.");
        server_async_release(st);
        return;
    }
    on_get_session(req, s, ctx);
}

void helpdesk_on_get(h2o_req_t *req, const struct server_params *p)
{
    hd_start(req, p, sizeof(struct hd_req), on_get_checked);
}

/* --- notes --- */

static void on_noted(const struct pg_reply *r, void *ctx)
{
    struct hd_req *st = ctx;
    h2o_req_t *req = reply_req(st, r);
    if (req == NULL)
        return;
    const PGresult *res = r->results[0];
    if (PQntuples(res) != 1) {
        server_send_problem(req, 404, "Not found", "There is no ticket with that number.");
        server_async_release(st);
        return;
    }
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_add_str(&b, "at", PQgetvalue(res, 0, 0));
    json_add_int(&b, "author", strtoll(PQgetvalue(res, 0, 1), NULL, 10));
    json_add_str(&b, "kind", PQgetvalue(res, 0, 2));
    json_add_str(&b, "body", PQgetvalue(res, 0, 3));
    json_close_object(&b);
    send_and_release(req, st, 201, &b);
}

static void on_note_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct hd_req *st = ctx;
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
    const char *text;
    size_t len;
    if (body == NULL || hd_opt_str(req, body, "body", &text, &len) < 0) {
        server_async_release(st);
        return;
    }
    if (text == NULL || !hd_text_ok(text, len, HELPDESK_TEXT_MAX)) {
        hd_bad(req, 422, "body must be UTF-8 text of 1 to 4000 bytes.");
        server_async_release(st);
        return;
    }
    snprintf(st->account, sizeof(st->account), "%" PRId64, s->account_id);
    const char *v[] = {st->number, st->account, text, auth_role_name(s->role), st->ip};
    if (pg_query(st->pg,
                 "WITH t AS (SELECT id, number, office_code FROM tickets WHERE number = $1), "
                 "n AS (INSERT INTO ticket_notes (ticket_id, author_id, kind, body) "
                 "SELECT id, $2::bigint, 'note', $3 FROM t RETURNING id, at, author_id, kind, body), "
                 "au AS (SELECT audit_add($2::bigint, $4, 'ticket.note', 'ticket:' || t.number, "
                 "jsonb_strip_nulls(jsonb_build_object('office', t.office_code, 'note', n.id)), "
                 "nullif($5, '')::inet) FROM t, n) "
                 "SELECT " TS("n.at") ", n.author_id, n.kind, n.body FROM n, au",
                 5, v, on_noted, st) != 0) {
        hd_unavailable(req);
        server_async_release(st);
    }
}

void helpdesk_on_note(h2o_req_t *req, const struct server_params *p)
{
    hd_start(req, p, sizeof(struct hd_req), on_note_session);
}
