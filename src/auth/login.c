/*
 * Login in two steps, and logout.
 *
 * POST /api/v1/sessions: PARSE -> GUARD (rate limits, captcha "login") -> LOOKUP (PostgreSQL) -> VERIFY
 * (pool; a dummy hash for unknown emails) -> ATTEMPT (Redis: <prefix>l:<login_id> with the code's MAC,
 * TTL auth_code_ttl_s) -> MAIL (login_code, through the mail module's quick queue in Redis: no
 * PostgreSQL commit per login) -> 200 {login_id}.
 * Unknown email and wrong password: the same 401. Right password, unverified account: a new verification
 * code is mailed (in one transaction with the account update) and the answer is 403.
 * POST /api/v1/sessions/code: PARSE -> GUARD (rate limits) -> TAKE (Redis script counts one attempt) ->
 * CHECK (constant time) -> CONSUME (DEL: exactly one request wins) -> SESSION -> 200 + cookie.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct login_state {
    struct auth_guard_step guard;
    char ip[64];
    char email[AUTH_EMAIL_MAX + 1];
    char password[AUTH_PASSWORD_MAX + 1];
    size_t password_len;
    int found, verified;
    char account[24];
    char role[24];
    char office[AUTH_OFFICE_MAX + 1];
    char lang[3];
    char name[AUTH_NAME_MAX + 1];
    char doc_type[24], doc_number[AUTH_DOC_MAX + 1];
    char hash[crypto_pwhash_STRBYTES];
    char code[AUTH_CODE_DIGITS + 1];
    char login_id[33];
};

static void login_done(struct login_state *st)
{
    sodium_memzero(st->password, sizeof(st->password));
    sodium_memzero(st->code, sizeof(st->code));
    server_async_release(st);
}

static void login_failed(h2o_req_t *req)
{
    auth_problem(req, 401, "Login failed", "The email address or the password is wrong.");
}

static void on_mailed(int rc, void *ctx)
{
    struct login_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (rc != 0) {
            auth_unavailable(req, "Email delivery");
        } else {
            struct json_buf b;
            json_buf_init(&b, &req->pool);
            json_open_object(&b, NULL);
            json_add_str(&b, "login_id", st->login_id);
            json_add_int(&b, "expires_in", (long long)auth_worker_of(req)->cfg.code_ttl_s);
            json_add_str(&b, "detail",
                         "We sent a one-time code to your email address; send it to "
                         "/api/v1/sessions/code with this login_id.");
            json_close_object(&b);
            server_send_json(req, 200, b.base, b.len);
        }
    }
    login_done(st);
}

static void on_attempt_stored(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct login_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        login_done(st);
        return;
    }
    if (err != NULL || reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        auth_unavailable(req, "The session store");
        login_done(st);
        return;
    }
    struct auth_worker *aw = auth_worker_of(req);
    if (auth_mail_login_code(server_worker_redis(server_worker_of(req)), st->email, st->lang, st->name,
                             st->code, aw->cfg.code_ttl_s, on_mailed, st) != 0) {
        auth_unavailable(req, "Email delivery");
        login_done(st);
    }
}

static void start_attempt(h2o_req_t *req, struct login_state *st)
{
    struct auth_worker *aw = auth_worker_of(req);
    unsigned char id[16];
    randombytes_buf(id, sizeof(id));
    auth_hex(id, sizeof(id), st->login_id);
    auth_code_new(st->code);
    char salt[2 * AUTH_SALT_BYTES + 1], mac[65], key[128], index[128], ttl[24];
    auth_code_seal(st->code, salt, mac);
    snprintf(key, sizeof(key), "%sl:%s", aw->cfg.prefix, st->login_id);
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)aw->cfg.code_ttl_s * 1000);
    /* indexed under the account, so that disabling it also ends a login waiting for its code */
    auth_account_index_key(aw, st->account, index, sizeof(index));
    const char *argv[] = {key,      index,      ttl,    ttl,  "account", st->account, "role",     st->role,
                          "office", st->office, "salt", salt, "mac",     mac,         "attempts", "0"};
    if (redis_evalsha(server_worker_redis(server_worker_of(req)), aw->session_store, 2, 16, argv, NULL,
                      on_attempt_stored, st) != 0) {
        auth_unavailable(req, "The session store");
        login_done(st);
    }
}

static void on_reverify_committed(const struct pg_reply *reply, void *ctx)
{
    struct login_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (reply->status != PG_OK)
            auth_unavailable(req, "The account database");
        else
            auth_problem(req, 403, "Email not verified",
                         "This account's email address is not verified yet; we sent a new verification code "
                         "to it. Send it to /api/v1/accounts/verify, then log in again.");
    }
    login_done(st);
}

/* The right password for an unverified account: a fresh verification code, in one transaction. */
static void resend_verification(h2o_req_t *req, struct login_state *st)
{
    struct auth_worker *aw = auth_worker_of(req);
    char salt[2 * AUTH_SALT_BYTES + 1], mac[65], ttl[24];
    auth_code_new(st->code);
    auth_code_seal(st->code, salt, mac);
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)aw->cfg.verify_ttl_s);
    const char *v[] = {st->account, salt, mac, ttl};
    struct pg_tx *tx = pg_tx_begin(server_worker_pg(server_worker_of(req)));
    if (tx == NULL ||
        pg_tx_add(tx,
                  "UPDATE accounts SET verify_salt = $2, verify_mac = $3, verify_attempts = 0, "
                  "verify_expires_at = now() + make_interval(secs => $4::int) "
                  "WHERE id = $1 AND verified_at IS NULL",
                  4, v) != 0 ||
        auth_mail_tx_code(tx, 0, st->email, st->lang, st->name, st->code, aw->cfg.verify_ttl_s) != 0) {
        pg_tx_abort(tx);
        auth_unavailable(req, "Email delivery");
        login_done(st);
        return;
    }
    if (pg_tx_commit(tx, on_reverify_committed, st) != 0) {
        auth_unavailable(req, "The account database");
        login_done(st);
    }
}

/*
 * booking keeps a citizen's document, email, language and name in Redis bk:acct:<id> (src/booking/cache.c,
 * TTL booking_account_cache_s) and fills it from PostgreSQL on a miss. A citizen logs in to book: the row is
 * at hand here, so the first booking attempt (at a release, with thousands of others) finds it in Redis
 * instead of adding a query to PostgreSQL's busiest second. me_data.c forgets the entry on a change.
 */
static void prime_booking_cache(h2o_req_t *req, const struct login_state *st)
{
    if (strcmp(st->role, "citizen") != 0 || st->doc_type[0] == '\0' || st->doc_number[0] == '\0')
        return;
    const struct server_config *cfg = server_worker_config(server_worker_of(req));
    const char *ttl = server_config_get(cfg, "booking_account_cache_s");
    char key[64];
    snprintf(key, sizeof(key), AUTH_BOOKING_CACHE_PREFIX "%s", st->account);
    const char *set[] = {"HSET", key,      "email", st->email,    "lang", st->lang,
                         "name", st->name, "dt",    st->doc_type, "dn",   st->doc_number};
    const char *exp[] = {"EXPIRE", key, ttl != NULL && ttl[0] != '\0' ? ttl : "300"};
    struct redis_client *redis = server_worker_redis(server_worker_of(req));
    if (redis_command(redis, auth_redis_ignore, NULL, 12, set, NULL) == 0)
        redis_command(redis, auth_redis_ignore, NULL, 3, exp, NULL);
}

static void on_password_checked(int res, const char *hash, void *ctx)
{
    (void)hash;
    struct login_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        login_done(st);
        return;
    }
    if (res < 0) {
        auth_unavailable(req, "Password checking");
        login_done(st);
    } else if (res == 0 || !st->found) {
        login_failed(req);
        login_done(st);
    } else if (!st->verified) {
        resend_verification(req, st);
    } else {
        prime_booking_cache(req, st);
        start_attempt(req, st);
    }
}

static void on_looked_up(const struct pg_reply *reply, void *ctx)
{
    struct login_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        login_done(st);
        return;
    }
    if (reply->status != PG_OK) {
        auth_unavailable(req, "The account database");
        login_done(st);
        return;
    }
    const PGresult *r = reply->results[0];
    if (PQntuples(r) == 1) {
        st->found = 1;
        snprintf(st->account, sizeof(st->account), "%s", PQgetvalue(r, 0, 0));
        snprintf(st->hash, sizeof(st->hash), "%s", PQgetvalue(r, 0, 1));
        st->verified = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
        snprintf(st->role, sizeof(st->role), "%s", PQgetvalue(r, 0, 3));
        snprintf(st->office, sizeof(st->office), "%s", PQgetvalue(r, 0, 4));
        snprintf(st->lang, sizeof(st->lang), "%s", PQgetvalue(r, 0, 5));
        snprintf(st->name, sizeof(st->name), "%s", PQgetvalue(r, 0, 6));
        snprintf(st->doc_type, sizeof(st->doc_type), "%s", PQgetvalue(r, 0, 7));
        snprintf(st->doc_number, sizeof(st->doc_number), "%s", PQgetvalue(r, 0, 8));
    }
    /* an unknown email is checked against the dummy hash: the answer takes as long */
    if (auth_hash_submit(auth_worker_of(req)->mailbox, AUTH_HASH_VERIFY, st->password, st->password_len,
                         st->found ? st->hash : NULL, on_password_checked, st) != 0) {
        auth_unavailable(req, "Password checking");
        login_done(st);
    }
}

static void on_login_guarded(int ok, void *ctx)
{
    struct login_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (!ok || req == NULL) {
        login_done(st);
        return;
    }
    const char *v[] = {st->email};
    if (pg_query(server_worker_pg(server_worker_of(req)),
                 "SELECT id, password_hash, verified_at IS NOT NULL, role, coalesce(office_code, ''), lang, "
                 "full_name, coalesce(doc_type, ''), coalesce(doc_number, '') FROM accounts WHERE email = $1 "
                 "AND NOT "
                 "disabled",
                 1, v, on_looked_up, st) != 0) {
        auth_unavailable(req, "The account database");
        login_done(st);
    }
}

void auth_on_login(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return;
    static const char *const allowed[] = {"email", "password", "captcha", "h-captcha-response", NULL};
    const char *email, *password, *why;
    size_t elen, plen;
    if (auth_only_fields(req, body, allowed) != 0 ||
        auth_str_field(req, body, "email", AUTH_EMAIL_MAX, 0, &email, &elen) != 0 ||
        auth_str_field(req, body, "password", AUTH_PASSWORD_MAX, 0, &password, &plen) != 0)
        return;
    int bad;
    const char *captcha = auth_captcha_field(req, body, &bad);
    if (bad)
        return;
    struct login_state *st = server_async_alloc(req, sizeof(*st));
    if (auth_email_parse(email, elen, st->email, &why) != 0) {
        auth_bad_field(req, "email", why);
        login_done(st);
        return;
    }
    if (plen == 0) {
        auth_bad_field(req, "password", "must not be empty");
        login_done(st);
        return;
    }
    memcpy(st->password, password, plen);
    st->password_len = plen;
    server_client_ip(req, st->ip);
    st->guard = (struct auth_guard_step){.state = st,
                                         .routes = "login",
                                         .action = "login",
                                         .ip = st->ip,
                                         .account = st->email,
                                         .captcha = captcha,
                                         .cb = on_login_guarded,
                                         .ctx = st};
    auth_guard_run(&st->guard);
}

/* --- the code: POST /api/v1/sessions/code --- */

struct code_state {
    struct auth_guard_step guard;
    char ip[64];
    char code[AUTH_CODE_DIGITS + 1];
    char key[128];
    int64_t account;
    int role;
    char office[AUTH_OFFICE_MAX + 1];
    char token[65], csrf[65];
};

static void code_done(struct code_state *st)
{
    sodium_memzero(st, sizeof(*st));
    server_async_release(st);
}

static void code_rejected(h2o_req_t *req)
{
    auth_problem(req, 401, "Code rejected",
                 "code: the code is wrong, has expired, was already used or had too many attempts; log in "
                 "again to receive a new one.");
}

static void on_session_stored(int rc, void *ctx)
{
    struct code_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (rc != 0) {
            auth_unavailable(req, "The session store");
        } else {
            struct auth_worker *aw = auth_worker_of(req);
            auth_set_cookie(req, st->token, aw->cfg.session_absolute_s);
            struct json_buf b;
            json_buf_init(&b, &req->pool);
            json_open_object(&b, NULL);
            json_add_str(&b, "csrf_token", st->csrf);
            json_add_str(&b, "role", auth_role_name((enum auth_role)st->role));
            if (st->office[0] != '\0')
                json_add_str(&b, "office", st->office);
            json_add_int(&b, "idle_timeout", (long long)aw->cfg.session_idle_s);
            json_add_int(&b, "absolute_timeout", (long long)aw->cfg.session_absolute_s);
            json_close_object(&b);
            server_send_json(req, 200, b.base, b.len);
        }
    }
    code_done(st);
}

static void on_consumed(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct code_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        code_done(st);
        return;
    }
    if (err != NULL || reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        auth_unavailable(req, "The session store");
        code_done(st);
        return;
    }
    if (reply->integer != 1) { /* another request used this code first */
        code_rejected(req);
        code_done(st);
        return;
    }
    if (auth_session_create(auth_worker_of(req), st->account, (enum auth_role)st->role, st->office, st->token,
                            st->csrf, on_session_stored, st) != 0) {
        auth_unavailable(req, "The session store");
        code_done(st);
    }
}

static void on_code_taken(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    struct code_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        code_done(st);
        return;
    }
    if (err != NULL || reply == NULL) {
        auth_unavailable(req, "The session store");
        code_done(st);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6) {
        code_rejected(req);
        code_done(st);
        return;
    }
    const char *f[6];
    for (size_t i = 0; i < 6; i++)
        f[i] = reply->element[i]->type == REDIS_REPLY_STRING ? reply->element[i]->str : "";
    char *end;
    long long account = strtoll(f[0], &end, 10), attempt = strtoll(f[5], NULL, 10);
    int role = auth_role_parse(f[1]);
    int match = auth_code_matches(st->code, f[3], f[4]);
    if (!match || *end != '\0' || role < 0 || strlen(f[2]) > AUTH_OFFICE_MAX) {
        uint64_t max = auth_worker_of(req)->cfg.code_max_attempts;
        if (attempt >= (long long)max) { /* that was the last try: the attempt is dead */
            const char *argv[] = {"DEL", st->key};
            redis_command(c, auth_redis_ignore, NULL, 2, argv, NULL);
        }
        code_rejected(req);
        code_done(st);
        return;
    }
    st->account = account;
    st->role = role;
    snprintf(st->office, sizeof(st->office), "%s", f[2]);
    const char *argv[] = {"DEL", st->key};
    if (redis_command(c, on_consumed, st, 2, argv, NULL) != 0) {
        auth_unavailable(req, "The session store");
        code_done(st);
    }
}

static void on_code_guarded(int ok, void *ctx)
{
    struct code_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (!ok || req == NULL) {
        code_done(st);
        return;
    }
    struct auth_worker *aw = auth_worker_of(req);
    char max[24];
    snprintf(max, sizeof(max), "%llu", (unsigned long long)aw->cfg.code_max_attempts);
    const char *argv[] = {st->key, max};
    if (redis_evalsha(server_worker_redis(server_worker_of(req)), aw->code_take, 1, 2, argv, NULL,
                      on_code_taken, st) != 0) {
        auth_unavailable(req, "The session store");
        code_done(st);
    }
}

void auth_on_login_code(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return;
    static const char *const allowed[] = {"login_id", "code", NULL};
    const char *id, *code;
    size_t idlen, clen;
    if (auth_only_fields(req, body, allowed) != 0 ||
        auth_str_field(req, body, "login_id", 64, 0, &id, &idlen) != 0 ||
        auth_str_field(req, body, "code", 64, 0, &code, &clen) != 0)
        return;
    if (idlen != 32 || !auth_is_hex(id, idlen)) {
        auth_bad_field(req, "login_id", "must be the login_id returned by POST /api/v1/sessions");
        return;
    }
    if (!auth_code_wellformed(code, clen)) {
        auth_bad_field(req, "code", "must be the 6 digits from the email");
        return;
    }
    struct auth_worker *aw = auth_worker_of(req);
    if (aw == NULL) {
        auth_unavailable(req, "Authentication");
        return;
    }
    struct code_state *st = server_async_alloc(req, sizeof(*st));
    memcpy(st->code, code, clen + 1);
    snprintf(st->key, sizeof(st->key), "%sl:%s", aw->cfg.prefix, id);
    server_client_ip(req, st->ip);
    st->guard = (struct auth_guard_step){
        .state = st, .routes = "login_code", .ip = st->ip, .cb = on_code_guarded, .ctx = st};
    auth_guard_run(&st->guard);
}

/* --- logout: DELETE /api/v1/sessions --- */

static void on_logged_out(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    h2o_req_t *req = server_async_req(ctx);
    if (req != NULL) {
        if (err != NULL || reply == NULL) {
            auth_unavailable(req, "The session store");
        } else {
            auth_set_cookie(req, NULL, 0);
            server_send(req, 204, "text/plain; charset=utf-8", "", 0);
        }
    }
    server_async_release(ctx);
}

static void on_logout_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    (void)ctx;
    if (req == NULL || s == NULL)
        return;
    void *st = server_async_alloc(req, 1);
    const char *argv[] = {"DEL", s->key};
    if (redis_command(server_worker_redis(server_worker_of(req)), on_logged_out, st, 2, argv, NULL) != 0) {
        auth_unavailable(req, "The session store");
        server_async_release(st);
    }
}

void auth_on_logout(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    auth_load_session(req, on_logout_session, NULL);
}
