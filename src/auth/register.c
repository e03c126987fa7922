/*
 * Registration and account verification.
 *
 * POST /api/v1/accounts: PARSE -> GUARD (rate limits, captcha "register") -> HASH (pool) -> PERSIST (one
 * transaction: the account with its hashed verification code, and the verify_code email) -> 201.
 * POST /api/v1/accounts/verify: PARSE -> GUARD (rate limits) -> TAKE (count one attempt in PostgreSQL)
 * -> CHECK (constant time) -> MARK verified -> 200.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reg_state {
    struct auth_guard_step guard;
    char ip[64];
    char email[AUTH_EMAIL_MAX + 1];
    char password[AUTH_PASSWORD_MAX + 1];
    size_t password_len;
    char name[AUTH_NAME_MAX + 1];
    enum auth_doc_type doc_type;
    char doc[AUTH_DOC_MAX + 1];
    char lang[3];
    char code[AUTH_CODE_DIGITS + 1];
};

static void reg_done(struct reg_state *st)
{
    sodium_memzero(st->password, sizeof(st->password));
    sodium_memzero(st->code, sizeof(st->code));
    server_async_release(st);
}

static void on_committed(const struct pg_reply *reply, void *ctx)
{
    struct reg_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (reply->status == PG_OK && reply->nresults >= 1 && PQntuples(reply->results[0]) == 1) {
            struct json_buf b;
            json_buf_init(&b, &req->pool);
            json_open_object(&b, NULL);
            json_add_str(&b, "email", st->email);
            json_add_bool(&b, "verified", 0);
            json_add_str(&b, "detail",
                         "Account created. Enter the code we sent to your email address at "
                         "/api/v1/accounts/verify.");
            json_close_object(&b);
            server_send_json(req, 201, b.base, b.len);
        } else if (reply->status == PG_ERR_QUERY && strcmp(reply->sqlstate, "23505") == 0) {
            auth_problem(req, 409, "Account exists",
                         "An account with this email address or identity document already exists; log in, "
                         "or ask the help desk if you did not create it.");
        } else {
            auth_unavailable(req, "The account database");
        }
    }
    reg_done(st);
}

static void on_hashed(int res, const char *hash, void *ctx)
{
    struct reg_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        reg_done(st);
        return;
    }
    if (res != 0 || hash == NULL) {
        auth_unavailable(req, "Password hashing");
        reg_done(st);
        return;
    }
    struct auth_worker *aw = auth_worker_of(req);
    struct pg_pool *pg = server_worker_pg(server_worker_of(req));
    char salt[2 * AUTH_SALT_BYTES + 1], mac[65], ttl[24];
    auth_code_new(st->code);
    auth_code_seal(st->code, salt, mac);
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)aw->cfg.verify_ttl_s);
    const char *v[] = {st->email, hash, st->name, auth_doc_type_name(st->doc_type), st->doc, st->lang,
                       salt,      mac,  ttl};
    struct pg_tx *tx = pg_tx_begin(pg);
    if (tx == NULL) {
        auth_unavailable(req, "The account database");
        reg_done(st);
        return;
    }
    pg_tx_add(tx,
              "INSERT INTO accounts (email, password_hash, full_name, doc_type, doc_number, lang, role, "
              "verify_salt, verify_mac, verify_attempts, verify_expires_at) "
              "VALUES ($1, $2, $3, $4, $5, $6, 'citizen', $7, $8, 0, now() + make_interval(secs => $9::int)) "
              "RETURNING id",
              9, v);
    int rc = auth_mail_tx_code(tx, 0, st->email, st->lang, st->name, st->code, aw->cfg.verify_ttl_s);
    if (rc != 0) {
        pg_tx_abort(tx);
        auth_unavailable(req, "Email delivery");
        reg_done(st);
        return;
    }
    if (pg_tx_commit(tx, on_committed, st) != 0) {
        auth_unavailable(req, "The account database");
        reg_done(st);
    }
}

static void on_guarded(int ok, void *ctx)
{
    struct reg_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (!ok || req == NULL) {
        reg_done(st);
        return;
    }
    int rc = auth_hash_submit(auth_worker_of(req)->mailbox, AUTH_HASH_CREATE, st->password, st->password_len,
                              NULL, on_hashed, st);
    if (rc != 0) {
        auth_unavailable(req, "Password hashing");
        reg_done(st);
    }
}

/* Parses the body into st; answers 400 itself and returns -1 on bad input. */
static int parse_registration(h2o_req_t *req, const struct json_value *body, struct reg_state *st,
                              const char **captcha)
{
    static const char *const allowed[] = {"email", "password", "full_name",          "document",
                                          "lang",  "captcha",  "h-captcha-response", NULL};
    static const char *const doc_allowed[] = {"type", "number", NULL};
    const char *s, *why;
    size_t len;
    if (auth_only_fields(req, body, allowed) != 0)
        return -1;
    if (auth_str_field(req, body, "email", AUTH_EMAIL_MAX, 0, &s, &len) != 0)
        return -1;
    if (auth_email_parse(s, len, st->email, &why) != 0)
        return auth_bad_field(req, "email", why), -1;
    if (auth_str_field(req, body, "password", AUTH_PASSWORD_MAX, 0, &s, &len) != 0)
        return -1;
    if (auth_password_check(s, len, &why) != 0)
        return auth_bad_field(req, "password", why), -1;
    memcpy(st->password, s, len);
    st->password_len = len;
    if (auth_str_field(req, body, "full_name", AUTH_NAME_MAX, 0, &s, &len) != 0)
        return -1;
    if (auth_name_check(s, len, &why) != 0)
        return auth_bad_field(req, "full_name", why), -1;
    memcpy(st->name, s, len);
    const struct json_value *doc = json_get(body, "document");
    if (doc == NULL || doc->type != JSON_OBJECT)
        return auth_bad_field(req, "document", "must be an object {\"type\": \"curp\", \"number\": \"...\"}"),
               -1;
    if (auth_only_fields(req, doc, doc_allowed) != 0)
        return -1;
    const char *type, *number;
    size_t nlen;
    if (auth_str_field(req, doc, "type", 16, 0, &type, NULL) != 0 ||
        auth_str_field(req, doc, "number", 64, 0, &number, &nlen) != 0)
        return -1;
    int t = auth_doc_type_parse(type);
    if (t < 0)
        return auth_bad_field(req, "document.type", "must be one of curp, passport, consular_id"), -1;
    st->doc_type = (enum auth_doc_type)t;
    if (auth_document_parse(st->doc_type, number, nlen, st->doc, &why) != 0)
        return auth_bad_field(req, "document.number", why), -1;
    if (auth_str_field(req, body, "lang", 2, 1, &s, &len) != 0)
        return -1;
    if (s == NULL)
        s = "es";
    if (strcmp(s, "es") != 0 && strcmp(s, "en") != 0)
        return auth_bad_field(req, "lang", "must be \"es\" or \"en\""), -1;
    memcpy(st->lang, s, 3);
    int bad;
    *captcha = auth_captcha_field(req, body, &bad);
    return bad ? -1 : 0;
}

void auth_on_register(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return;
    struct reg_state *st = server_async_alloc(req, sizeof(*st));
    const char *captcha = NULL;
    if (parse_registration(req, body, st, &captcha) != 0) {
        reg_done(st);
        return;
    }
    server_client_ip(req, st->ip);
    st->guard = (struct auth_guard_step){.state = st,
                                         .routes = "register",
                                         .action = "register",
                                         .ip = st->ip,
                                         .account = st->email,
                                         .document = st->doc,
                                         .captcha = captcha,
                                         .cb = on_guarded,
                                         .ctx = st};
    auth_guard_run(&st->guard);
}

/* --- verification --- */

struct verify_state {
    struct auth_guard_step guard;
    char ip[64];
    char email[AUTH_EMAIL_MAX + 1];
    char code[AUTH_CODE_DIGITS + 1];
    char mac[65];
};

static void code_rejected(h2o_req_t *req)
{
    auth_problem(req, 400, "Code rejected",
                 "code: the code is wrong, has expired or was used up; log in to receive a new one.");
}

static void verify_done(struct verify_state *st)
{
    sodium_memzero(st->code, sizeof(st->code));
    server_async_release(st);
}

static void on_marked(const struct pg_reply *reply, void *ctx)
{
    struct verify_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (reply->status != PG_OK) {
            auth_unavailable(req, "The account database");
        } else if (PQntuples(reply->results[0]) != 1) {
            code_rejected(req);
        } else {
            static const char ok[] =
                "{\"verified\":true,\"detail\":\"Your email address is verified; you can "
                "log in now.\"}";
            server_send_json(req, 200, ok, sizeof(ok) - 1);
        }
    }
    verify_done(st);
}

static void on_taken(const struct pg_reply *reply, void *ctx)
{
    struct verify_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        verify_done(st);
        return;
    }
    if (reply->status != PG_OK) {
        auth_unavailable(req, "The account database");
        verify_done(st);
        return;
    }
    const PGresult *r = reply->results[0];
    if (PQntuples(r) != 1 || !auth_code_matches(st->code, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2))) {
        code_rejected(req);
        verify_done(st);
        return;
    }
    snprintf(st->mac, sizeof(st->mac), "%s", PQgetvalue(r, 0, 2));
    const char *v[] = {PQgetvalue(r, 0, 0), st->mac};
    /* single use: only the request that still sees this code's MAC marks the account */
    if (pg_query(server_worker_pg(server_worker_of(req)),
                 "UPDATE accounts SET verified_at = now(), verify_salt = NULL, verify_mac = NULL "
                 "WHERE id = $1 AND verify_mac = $2 AND verified_at IS NULL RETURNING id",
                 2, v, on_marked, st) != 0) {
        auth_unavailable(req, "The account database");
        verify_done(st);
    }
}

static void on_verify_guarded(int ok, void *ctx)
{
    struct verify_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (!ok || req == NULL) {
        verify_done(st);
        return;
    }
    char max[24];
    snprintf(max, sizeof(max), "%llu", (unsigned long long)auth_worker_of(req)->cfg.code_max_attempts);
    const char *v[] = {st->email, max};
    if (pg_query(server_worker_pg(server_worker_of(req)),
                 "UPDATE accounts SET verify_attempts = verify_attempts + 1 "
                 "WHERE email = $1 AND verified_at IS NULL AND verify_mac IS NOT NULL "
                 "AND verify_expires_at > now() AND verify_attempts < $2::int "
                 "RETURNING id, verify_salt, verify_mac",
                 2, v, on_taken, st) != 0) {
        auth_unavailable(req, "The account database");
        verify_done(st);
    }
}

void auth_on_verify(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return;
    static const char *const allowed[] = {"email", "code", NULL};
    const char *s, *why, *code;
    size_t len, clen;
    if (auth_only_fields(req, body, allowed) != 0 ||
        auth_str_field(req, body, "email", AUTH_EMAIL_MAX, 0, &s, &len) != 0 ||
        auth_str_field(req, body, "code", 64, 0, &code, &clen) != 0)
        return;
    struct verify_state *st = server_async_alloc(req, sizeof(*st));
    if (auth_email_parse(s, len, st->email, &why) != 0) {
        auth_bad_field(req, "email", why);
        verify_done(st);
        return;
    }
    if (!auth_code_wellformed(code, clen)) {
        auth_bad_field(req, "code", "must be the 6 digits from the email");
        verify_done(st);
        return;
    }
    memcpy(st->code, code, clen + 1);
    server_client_ip(req, st->ip);
    st->guard = (struct auth_guard_step){.state = st,
                                         .routes = "verify",
                                         .ip = st->ip,
                                         .account = st->email,
                                         .cb = on_verify_guarded,
                                         .ctx = st};
    auth_guard_run(&st->guard);
}
