/*
 * DELETE /api/v1/admin/appointments/{code} (optional body {"reason": "..."}): staff cancel an appointment.
 * consular_staff and consular_admin of the appointment's office (a consular_admin without an office: any
 * office) and sysadmin; everyone else 403 (auth_require), staff of another office 403 here.
 *
 * READ (the appointment, its citizen and names) -> CANCEL (one transaction: the UPDATE, which raises CA409
 * when the appointment is no longer active, so nothing else of the transaction stays; its booking_events
 * row with the staff account; the cancellation email in the citizen's language; the audit record) ->
 * SEAT (booking's cancel.lua: the seat is free again at once and the person key goes) -> 200.
 */
#include "internal.h"

#include "citas/audit.h"
#include "citas/auth.h"
#include "citas/mail.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MAX 500

struct staff_cancel {
    struct bk_worker *bw;
    char code[BOOKING_CODE_LEN + 1];
    char ip[64];
    char reason[REASON_MAX + 1]; /* "" when none was given */
    int64_t account;
    const char *role; /* static: auth_role_name() */
    char session_office[AUTH_OFFICE_MAX + 1];
    /* from READ, for SEAT */
    char office[BK_OFFICE_MAX + 1];
    int64_t slot;
    int seat;
    char person_key[BK_KEY_MAX];
};

static const char sql_read[] =
    "SELECT a.id, a.state, a.office_code, a.slot_id, a.seat, a.procedure_code, a.document_type, "
    "a.document_number, coalesce(acc.email, ''), coalesce(acc.lang, 'es'), "
    "to_char(s.local_start, 'YYYY-MM-DD HH24:MI'), o.name_es, o.name_en, p.name_es, p.name_en, "
    "coalesce(acc.full_name, '') "
    "FROM appointments a JOIN slots s ON s.id = a.slot_id JOIN offices o ON o.code = a.office_code "
    "JOIN procedures p ON p.code = a.procedure_code LEFT JOIN accounts acc ON acc.id = a.account_id "
    "WHERE a.code = $1";

static const char sql_cancel[] =
    "WITH c AS (UPDATE appointments SET state = 'cancelled', cancelled_at = now(), cancel_reason = 'staff' "
    "WHERE id = $1::bigint AND state = 'active' RETURNING id), "
    "e AS (INSERT INTO booking_events (appointment_id, action, account_id, client_ip, detail) "
    "SELECT id, 'cancelled', $2::bigint, $3::inet, jsonb_build_object('reason', 'staff', 'note', $4::text) "
    "FROM c) "
    "SELECT admin_require((SELECT count(*) FROM c) = 1, 'CA409', 'This appointment is no longer active.')";

static void answer(struct staff_cancel *st)
{
    h2o_req_t *req = server_async_req(st);
    if (req != NULL)
        bk_send_state(req, st->code, "cancelled");
    server_async_release(st);
}

static void on_seat_back(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    (void)reply;
    (void)err; /* if Redis missed it, the seat comes back at the next rebuild (PostgreSQL has the truth) */
    answer(ctx);
}

static void on_committed(const struct pg_reply *r, void *ctx)
{
    struct staff_cancel *st = ctx;
    if (r->status != PG_OK) {
        h2o_req_t *req = server_async_req(st);
        if (req != NULL) {
            if (r->status == PG_ERR_QUERY && strcmp(r->sqlstate, "CA409") == 0)
                server_send_problem(req, 409, "Conflict", "This appointment is no longer active.");
            else
                bk_unavailable(req, "The appointment database");
        }
        server_async_release(st);
        return;
    }
    /* committed: the seat goes back even if the client has gone */
    if (bk_run_cancel(st->bw, st->office, st->slot, st->seat, st->person_key, st->code, on_seat_back, st) !=
        0)
        answer(st);
}

/* The citizen's email (none for an account without an address); 0, or -1 when it cannot be rendered. */
static int add_mail(struct pg_tx *tx, const struct staff_cancel *st, const PGresult *res)
{
    const char *to = PQgetvalue(res, 0, 8);
    if (to[0] == '\0')
        return 0;
    int en = strcmp(PQgetvalue(res, 0, 9), "en") == 0;
    const char *reason = st->reason[0] != '\0' ? st->reason
                         : en                  ? "The consular office had to cancel this appointment."
                                               : "La oficina consular tuvo que cancelar esta cita.";
    struct mail_param params[] = {
        {"code", st->code},
        {"office", PQgetvalue(res, 0, en ? 12 : 11)},
        {"when", PQgetvalue(res, 0, 10)},
        {"procedure", PQgetvalue(res, 0, en ? 14 : 13)},
        {"reason", reason},
        {"name", PQgetvalue(res, 0, 15)},
    };
    size_t nparams = sizeof(params) / sizeof(params[0]);
    if (PQgetvalue(res, 0, 15)[0] == '\0')
        nparams--; /* "name" is last: optional */
    struct mail_message m = {
        .to = to,
        .lang = en ? "en" : "es",
        .kind = MAIL_BOOKING_CANCELLED,
        .params = params,
        .nparams = nparams,
    };
    return mail_tx_add(tx, &m) == 0 ? 0 : -1;
}

static void on_read(const struct pg_reply *r, void *ctx)
{
    struct staff_cancel *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    if (r->status != PG_OK || r->nresults != 1) {
        bk_db_failed(req, st);
        return;
    }
    const PGresult *res = r->results[0];
    if (PQntuples(res) != 1) {
        server_send_problem(req, 404, "Not found", "There is no appointment with this code.");
        server_async_release(st);
        return;
    }
    snprintf(st->office, sizeof(st->office), "%s", PQgetvalue(res, 0, 2));
    if (st->session_office[0] != '\0' && strcmp(st->session_office, st->office) != 0) {
        server_send_problem(req, 403, "Forbidden", "This appointment belongs to another office.");
        server_async_release(st);
        return;
    }
    const char *state = PQgetvalue(res, 0, 1);
    if (strcmp(state, "active") != 0) {
        char d[120];
        snprintf(d, sizeof(d), "This appointment is %s; only an active appointment can be cancelled.", state);
        server_send_problem(req, 409, "Conflict", d);
        server_async_release(st);
        return;
    }
    bk_parse_i64(PQgetvalue(res, 0, 3), strlen(PQgetvalue(res, 0, 3)), &st->slot);
    st->seat = atoi(PQgetvalue(res, 0, 4));
    char hash[65];
    booking_doc_hash(PQgetvalue(res, 0, 6), PQgetvalue(res, 0, 7), hash);
    bk_key_person(st->person_key, st->office, hash, PQgetvalue(res, 0, 5));

    char acct[24];
    snprintf(acct, sizeof(acct), "%" PRId64, st->account);
    const char *v[] = {PQgetvalue(res, 0, 0), acct, st->ip[0] ? st->ip : NULL,
                       st->reason[0] ? st->reason : NULL};
    struct json_buf d;
    json_buf_init(&d, &req->pool);
    json_open_object(&d, NULL);
    json_add_str(&d, "office", st->office);
    json_add_str(&d, "procedure", PQgetvalue(res, 0, 5));
    json_add_int(&d, "slot", st->slot);
    json_add_int(&d, "seat", st->seat);
    if (st->reason[0] != '\0')
        json_add_str(&d, "reason", st->reason);
    json_close_object(&d);
    char *detail = json_buf_str(&d);
    char subject[32];
    snprintf(subject, sizeof(subject), "appointment:%s", st->code);
    struct audit_event ev = {.actor_account = st->account,
                             .actor_role = st->role,
                             .action = "appointment.staff_cancel",
                             .subject = subject,
                             .detail_json = detail,
                             .client_ip = st->ip[0] ? st->ip : NULL};
    struct pg_tx *tx = pg_tx_begin(st->bw->pg);
    if (tx == NULL || pg_tx_add(tx, sql_cancel, 4, v) != 0 || add_mail(tx, st, res) != 0 ||
        audit_tx_add(tx, &ev) != 0) {
        pg_tx_abort(tx);
        bk_db_failed(req, st);
        return;
    }
    if (pg_tx_commit(tx, on_committed, st) != 0) {
        bk_db_failed(req, st);
    }
}

/* The optional body: {"reason": "..."}. 0, or -1 after answering 400/415/422. */
static int parse_reason(h2o_req_t *req, char out[REASON_MAX + 1])
{
    out[0] = '\0';
    if (req->entity.base == NULL || req->entity.len == 0)
        return 0;
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return -1;
    for (size_t i = 0; i < body->len; i++) {
        if (strcmp(body->keys[i], "reason") != 0) {
            server_send_problem(req, 400, "Bad request", "Only the field 'reason' is accepted.");
            return -1;
        }
    }
    const struct json_value *r = json_get(body, "reason");
    if (r == NULL || r->type == JSON_NULL)
        return 0;
    if (r->type != JSON_STRING) {
        server_send_problem(req, 400, "Bad request", "reason: must be a string.");
        return -1;
    }
    int blank = 1;
    for (size_t i = 0; i < r->len; i++) {
        unsigned char c = (unsigned char)r->str[i];
        if (c < 0x20 || c == 0x7f) {
            server_send_problem(req, 422, "Unprocessable", "reason: control characters are not allowed.");
            return -1;
        }
        if (c != ' ')
            blank = 0;
    }
    if (r->len > REASON_MAX || blank) {
        server_send_problem(req, 422, "Unprocessable", "reason: 1 to 500 bytes of text, not only spaces.");
        return -1;
    }
    memcpy(out, r->str, r->len + 1);
    return 0;
}

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct staff_cancel *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    if (parse_reason(req, st->reason) != 0) { /* after the session: 401/403 come before 400 */
        server_async_release(st);
        return;
    }
    st->account = s->account_id;
    st->role = auth_role_name(s->role);
    snprintf(st->session_office, sizeof(st->session_office), "%s", s->office);
    const char *v[] = {st->code};
    if (pg_query(st->bw->pg, sql_read, 1, v, on_read, st) != 0) {
        bk_db_failed(req, st);
    }
}

void booking_on_staff_cancel(h2o_req_t *req, const struct server_params *p)
{
    struct bk_worker *bw = bk_staff_code_route(req, p);
    if (bw == NULL)
        return;
    struct staff_cancel *st = server_async_alloc(req, sizeof(*st));
    st->bw = bw;
    memcpy(st->code, p->v[0].base, BOOKING_CODE_LEN);
    server_client_ip(req, st->ip);
    auth_require(req, BK_STAFF_ROLES, NULL, on_session, st);
}
