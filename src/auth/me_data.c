/*
 * The citizen's own data: GET /api/v1/me/export, PATCH /api/v1/me, DELETE /api/v1/me.
 *
 * Export: one PostgreSQL query builds the whole document (account, appointments, booking events) as JSON.
 * Update: full_name and lang only (the email and the identity document identify the person: the help desk
 * changes those). Delete: SESSION -> PERSIST (one transaction: cancel the active appointments with their
 * booking events, then wipe the account's personal data and disable it) -> SEATS (each cancelled
 * appointment's seat back in Redis, booking's cancel rule) -> FORGET (the session, booking's account cache)
 * -> 200. The account row stays (appointments and the append-only booking events refer to it); its email,
 * name, password and document are replaced by values no person can register ("deleted-<id>@deleted.invalid",
 * passport number "DELETED<id>", not a passport's shape). Appointment records keep the document they were
 * booked with: they are the consulate's records. If Redis misses a seat, the next rebuild returns it.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char auth_seat_back_lua[] =
    "local cap = tonumber(redis.call('HGET', KEYS[1], 'capacity') or '0')\n"
    "local seat = tonumber(ARGV[1])\n"
    "local back = 0\n"
    "if seat and seat >= 1 and seat <= cap then back = redis.call('SADD', KEYS[2], ARGV[1]) end\n"
    "if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end\n"
    "return back\n";

/* booking keeps an account's document, email, language and name in Redis (src/booking/cache.c): a change
 * or a deletion must not wait for its TTL. */
static void forget_booking_cache(h2o_req_t *req, int64_t account)
{
    char key[64];
    snprintf(key, sizeof(key), AUTH_BOOKING_CACHE_PREFIX "%" PRId64, account);
    const char *argv[] = {"DEL", key};
    redis_command(server_worker_redis(server_worker_of(req)), auth_redis_ignore, NULL, 2, argv, NULL);
}

/* --- export --- */

static void on_exported(const struct pg_reply *reply, void *ctx)
{
    h2o_req_t *req = server_async_req(ctx);
    if (req != NULL) {
        if (auth_account_row(req, reply)) {
            const char *doc = PQgetvalue(reply->results[0], 0, 0);
            server_add_header(req, "content-disposition", "attachment; filename=\"citas-my-data.json\"");
            server_send_json(req, 200, doc, strlen(doc));
        }
    }
    server_async_release(ctx);
}

static void on_export_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    (void)ctx;
    if (req == NULL || s == NULL)
        return;
    void *st = server_async_alloc(req, 1);
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, s->account_id);
    const char *v[] = {id};
    if (pg_query(
            server_worker_pg(server_worker_of(req)),
            "SELECT json_build_object("
            " 'exported_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            " 'account', json_build_object('id', a.id, 'email', a.email, 'full_name', a.full_name,"
            "   'document', CASE WHEN a.doc_type IS NULL THEN NULL"
            "     ELSE json_build_object('type', a.doc_type, 'number', a.doc_number) END,"
            "   'lang', a.lang, 'role', a.role, 'office', a.office_code, 'created_at', a.created_at,"
            "   'verified_at', a.verified_at),"
            " 'appointments', coalesce((SELECT json_agg(json_build_object('code', p.code, 'state', p.state,"
            "   'office', p.office_code, 'procedure', p.procedure_code, 'slot', p.slot_id, 'seat', p.seat,"
            "   'local_start', to_char(s.local_start, 'YYYY-MM-DD\"T\"HH24:MI'), 'starts_at', s.starts_at,"
            "   'document', json_build_object('type', p.document_type, 'number', p.document_number),"
            "   'created_at', p.created_at, 'cancelled_at', p.cancelled_at, 'cancel_reason', p.cancel_reason,"
            "   'attended_at', p.attended_at) ORDER BY p.created_at, p.id)"
            "   FROM appointments p JOIN slots s ON s.id = p.slot_id WHERE p.account_id = a.id), '[]'),"
            " 'events', coalesce((SELECT json_agg(json_build_object('at', e.at, 'action', e.action,"
            "   'appointment', p.code, 'client_ip', host(e.client_ip)) ORDER BY e.id)"
            "   FROM booking_events e JOIN appointments p ON p.id = e.appointment_id"
            "   WHERE p.account_id = a.id), '[]')"
            ")::text FROM accounts a WHERE a.id = $1 AND NOT a.disabled",
            1, v, on_exported, st) != 0) {
        auth_unavailable(req, "The account database");
        server_async_release(st);
    }
}

void auth_on_me_export(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    auth_load_session(req, on_export_session, NULL);
}

/* --- update --- */

struct update_state {
    char name[AUTH_NAME_MAX + 1];
    char lang[3];
    int has_name, has_lang;
};

static void on_updated(const struct pg_reply *reply, void *ctx)
{
    struct update_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (auth_account_row(req, reply)) {
            const PGresult *r = reply->results[0];
            forget_booking_cache(req, strtoll(PQgetvalue(r, 0, 0), NULL, 10));
            struct json_buf b;
            json_buf_init(&b, &req->pool);
            json_open_object(&b, NULL);
            json_add_str(&b, "full_name", PQgetvalue(r, 0, 1));
            json_add_str(&b, "lang", PQgetvalue(r, 0, 2));
            json_close_object(&b);
            server_send_json(req, 200, b.base, b.len);
        }
    }
    server_async_release(st);
}

static void on_update_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct update_state *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, s->account_id);
    const char *v[] = {id, st->has_name ? st->name : NULL, st->has_lang ? st->lang : NULL};
    if (pg_query(server_worker_pg(server_worker_of(req)),
                 "UPDATE accounts SET full_name = coalesce($2, full_name), lang = coalesce($3, lang) "
                 "WHERE id = $1 AND NOT disabled RETURNING id, full_name, lang",
                 3, v, on_updated, st) != 0) {
        auth_unavailable(req, "The account database");
        server_async_release(st);
    }
}

void auth_on_me_update(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return;
    static const char *const allowed[] = {"full_name", "lang", NULL};
    const char *name, *lang, *why;
    size_t nlen, llen;
    if (auth_only_fields(req, body, allowed) != 0 ||
        auth_str_field(req, body, "full_name", AUTH_NAME_MAX, 1, &name, &nlen) != 0 ||
        auth_str_field(req, body, "lang", 2, 1, &lang, &llen) != 0)
        return;
    if (name == NULL && lang == NULL) {
        auth_bad_field(req, "full_name", "give full_name or lang (or both) to change");
        return;
    }
    if (name != NULL && auth_name_check(name, nlen, &why) != 0) {
        auth_bad_field(req, "full_name", why);
        return;
    }
    if (lang != NULL && strcmp(lang, "es") != 0 && strcmp(lang, "en") != 0) {
        auth_bad_field(req, "lang", "must be \"es\" or \"en\"");
        return;
    }
    struct update_state *st = server_async_alloc(req, sizeof(*st));
    if (name != NULL) {
        memcpy(st->name, name, nlen);
        st->has_name = 1;
    }
    if (lang != NULL) {
        memcpy(st->lang, lang, llen);
        st->has_lang = 1;
    }
    auth_load_session(req, on_update_session, st);
}

/* --- delete --- */

#define DELETE_MAX_CODES 64 /* one active appointment per procedure: far more than there are procedures */

struct delete_state {
    struct server_worker *w;
    struct auth_worker *aw;
    int64_t account;
    char key[128]; /* the session's Redis key */
    char ip[64];
    unsigned seats_pending, ncodes;
    char codes[DELETE_MAX_CODES][16];
};

static void delete_answer(struct delete_state *st)
{
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        auth_set_cookie(req, NULL, 0);
        struct json_buf b;
        json_buf_init(&b, &req->pool);
        json_open_object(&b, NULL);
        json_add_bool(&b, "deleted", 1);
        json_open_array(&b, "cancelled");
        for (unsigned i = 0; i < st->ncodes; i++)
            json_add_str(&b, NULL, st->codes[i]);
        json_close_array(&b);
        json_close_object(&b);
        server_send_json(req, 200, b.base, b.len);
    }
    server_async_release(st);
}

static void on_seat_back(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c, (void)reply, (void)err; /* a seat Redis missed comes back at the next rebuild */
    struct delete_state *st = ctx;
    if (--st->seats_pending == 0)
        delete_answer(st);
}

/* Row i of the cancelled appointments: slot, seat, office, procedure, document type, number, code. */
static int seat_back(struct delete_state *st, const PGresult *r, int i)
{
    const char *slot = PQgetvalue(r, i, 0), *seat = PQgetvalue(r, i, 1), *office = PQgetvalue(r, i, 2);
    char doc[64], hash[65], slotk[128], freek[128], person[256];
    snprintf(doc, sizeof(doc), "%s:%s", PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
    auth_sha256_hex(doc, strlen(doc), hash); /* booking_doc_hash() */
    snprintf(slotk, sizeof(slotk), "cal:{%s}:slot:%s", office, slot);
    snprintf(freek, sizeof(freek), "cal:{%s}:free:%s", office, slot);
    snprintf(person, sizeof(person), "bk:{%s}:person:%s:%s", office, hash, PQgetvalue(r, i, 3));
    const char *argv[] = {slotk, freek, person, seat, PQgetvalue(r, i, 6)};
    return redis_evalsha(server_worker_redis(st->w), st->aw->seat_back, 3, 5, argv, NULL, on_seat_back, st);
}

static void on_deleted(const struct pg_reply *reply, void *ctx)
{
    struct delete_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (reply->status != PG_OK || reply->nresults != 2) {
        if (req != NULL)
            auth_unavailable(req, "The account database");
        server_async_release(st);
        return;
    }
    if (PQntuples(reply->results[1]) != 1) { /* disabled meanwhile: the transaction changed nothing */
        if (req != NULL) {
            auth_account_gone(req);
        }
        server_async_release(st);
        return;
    }
    /* committed: the Redis steps run even if the client has gone */
    struct redis_client *redis = server_worker_redis(st->w);
    char acct[64];
    snprintf(acct, sizeof(acct), AUTH_BOOKING_CACHE_PREFIX "%" PRId64, st->account);
    const char *del[] = {"DEL", st->key, acct};
    redis_command(redis, auth_redis_ignore, NULL, 3, del, NULL);
    const PGresult *r = reply->results[0];
    st->seats_pending = 1; /* held by this function until every call is issued */
    for (int i = 0; i < PQntuples(r); i++) {
        if (st->ncodes < DELETE_MAX_CODES)
            snprintf(st->codes[st->ncodes++], sizeof(st->codes[0]), "%s", PQgetvalue(r, i, 6));
        if (seat_back(st, r, i) == 0)
            st->seats_pending++;
    }
    if (--st->seats_pending == 0)
        delete_answer(st);
}

static void on_delete_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct delete_state *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    if (s->role != AUTH_ROLE_CITIZEN) {
        auth_problem(req, 403, "Forbidden",
                     "Staff accounts are closed by an administrator, not by their owner.");
        server_async_release(st);
        return;
    }
    st->account = s->account_id;
    snprintf(st->key, sizeof(st->key), "%s", s->key);
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, s->account_id);
    const char *v1[] = {id, st->ip[0] != '\0' ? st->ip : NULL};
    const char *v2[] = {id};
    struct pg_tx *tx = pg_tx_begin(server_worker_pg(st->w));
    if (tx == NULL ||
        pg_tx_add(tx,
                  "WITH c AS (UPDATE appointments SET state = 'cancelled', cancelled_at = now(), "
                  "cancel_reason = 'citizen' WHERE account_id = $1 AND state = 'active' "
                  "RETURNING id, slot_id, seat, office_code, procedure_code, document_type, document_number, "
                  "code), "
                  "e AS (INSERT INTO booking_events (appointment_id, action, account_id, client_ip, detail) "
                  "SELECT id, 'cancelled', $1, $2::inet, '{\"reason\": \"account_deleted\"}' FROM c) "
                  "SELECT slot_id, seat, office_code, procedure_code, document_type, document_number, code "
                  "FROM c",
                  2, v1) != 0 ||
        pg_tx_add(
            tx,
            "UPDATE accounts SET email = 'deleted-' || id || '@deleted.invalid', full_name = 'deleted', "
            "password_hash = '$argon2id$deleted', "
            "doc_type = CASE WHEN doc_type IS NULL THEN NULL ELSE 'passport' END, "
            "doc_number = CASE WHEN doc_type IS NULL THEN NULL ELSE 'DELETED' || lpad(id::text, 12, '0') "
            "END, disabled = true, verify_salt = NULL, verify_mac = NULL, verify_expires_at = NULL "
            "WHERE id = $1 AND NOT disabled RETURNING id",
            1, v2) != 0) {
        pg_tx_abort(tx);
        auth_unavailable(req, "The account database");
        server_async_release(st);
        return;
    }
    if (pg_tx_commit(tx, on_deleted, st) != 0) {
        auth_unavailable(req, "The account database");
        server_async_release(st);
    }
}

void auth_on_me_delete(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct auth_worker *aw = auth_worker_of(req);
    if (aw == NULL) {
        auth_unavailable(req, "Authentication");
        return;
    }
    struct delete_state *st = server_async_alloc(req, sizeof(*st));
    st->w = server_worker_of(req);
    st->aw = aw;
    server_client_ip(req, st->ip);
    auth_load_session(req, on_delete_session, st);
}
