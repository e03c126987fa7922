/*
 * Sessions in Redis: key <prefix>s:<SHA-256 of the cookie token>, a hash {created, account, role, office,
 * csrf} whose TTL is the idle timeout, restarted on each use; a session whose created + absolute timeout has
 * passed is refused (and deleted) when it is next loaded, whatever its TTL says.
 * Loading, CSRF, role and office checks for every authenticated route. A load is two plain commands sent
 * together, HMGET and PEXPIRE (the idle timeout restarts; on a session logged out meanwhile it does nothing):
 * every booking attempt of a release loads its session, and a Lua script for it cost Redis about three times
 * the two commands (20 us a call, mostly the script call itself).
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void auth_redis_ignore(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c, (void)reply, (void)err, (void)ctx;
}

struct load_state {
    auth_session_cb cb;
    auth_peek_cb peek; /* set for auth_peek_session(): never answer, report the status instead */
    void *ctx;
    unsigned roles; /* 0: any */
    char office[AUTH_OFFICE_MAX + 1];
    int check_office;
    int check_csrf;
    char csrf[65];
    char key[128];
};

void auth_set_cookie(h2o_req_t *req, const char *token, uint64_t max_age_s)
{
    char v[256];
    snprintf(v, sizeof(v), "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%llu%s", AUTH_COOKIE,
             token != NULL ? token : "", token != NULL ? (unsigned long long)max_age_s : 0ULL,
             server_is_tls(req) ? "; Secure" : "");
    server_add_header(req, "set-cookie", v);
}

static void session_key(const struct auth_worker *aw, const char *token, char *out, size_t cap)
{
    char h[65];
    auth_sha256_hex(token, 64, h);
    snprintf(out, cap, "%ss:%s", aw->cfg.prefix, h);
}

static void finish(struct load_state *st, h2o_req_t *req, const struct auth_session *s)
{
    auth_session_cb cb = st->cb;
    void *ctx = st->ctx;
    server_async_release(st);
    cb(req, s, ctx);
}

/* The end of a peek: the status instead of an answer. */
static void finish_peek(struct load_state *st, h2o_req_t *req, const struct auth_session *s, int status)
{
    auth_peek_cb cb = st->peek;
    void *ctx = st->ctx;
    server_async_release(st);
    cb(req, s, status, ctx);
}

static void not_logged_in(h2o_req_t *req)
{
    auth_set_cookie(req, NULL, 0);
    auth_problem(req, 401, "Not logged in",
                 "There is no valid session (cookie citas_session): log in first.");
}

static const char *elem(const redisReply *r, size_t i)
{
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : NULL;
}

/*
 * Whether a load's HMGET (account, role, office, csrf, created) found a live session: its fields are there
 * and its absolute timeout has not passed (created is Redis' clock in ms, compared with ours: one host, or
 * hosts kept in time). A session past it is deleted now.
 */
static int live(struct auth_worker *aw, const redisReply *r, const char *key)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 || elem(r, 0) == NULL || elem(r, 4) == NULL)
        return 0;
    char *end = NULL;
    long long created = strtoll(elem(r, 4), &end, 10);
    if (end == elem(r, 4) || *end != '\0')
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (created + (long long)aw->cfg.session_absolute_s * 1000 > now)
        return 1;
    const char *argv[] = {"DEL", key};
    (void)redis_command(server_worker_redis(aw->w), auth_redis_ignore, NULL, 2, argv, NULL);
    return 0;
}

/* A session reply's fields, or -1 when it names no valid session. */
static int parse_reply(const redisReply *reply, int *role, long long *id, const char **office,
                       const char **csrf)
{
    if (reply->type != REDIS_REPLY_ARRAY)
        return -1;
    const char *account = elem(reply, 0), *r = elem(reply, 1);
    *office = elem(reply, 2);
    *csrf = elem(reply, 3);
    *role = r != NULL ? auth_role_parse(r) : -1;
    char *end = NULL;
    *id = account != NULL ? strtoll(account, &end, 10) : 0;
    if (*role < 0 || end == account || *end != '\0' || *office == NULL || *csrf == NULL ||
        strlen(*csrf) != 64 || strlen(*office) > AUTH_OFFICE_MAX)
        return -1;
    return 0;
}

static void peeked(struct load_state *st, h2o_req_t *req, const redisReply *reply, const char *err,
                   int absent)
{
    int role;
    long long id;
    const char *office, *csrf;
    if (err != NULL || reply == NULL) {
        finish_peek(st, req, NULL, 503);
    } else if (absent || parse_reply(reply, &role, &id, &office, &csrf) != 0) {
        finish_peek(st, req, NULL, 401);
    } else {
        struct auth_session *s = h2o_mem_alloc_pool(&req->pool, sizeof(*s));
        memset(s, 0, sizeof(*s));
        s->account_id = id;
        s->role = (enum auth_role)role;
        memcpy(s->office, office, strlen(office) + 1);
        memcpy(s->csrf, csrf, 65);
        snprintf(s->key, sizeof(s->key), "%s", st->key);
        finish_peek(st, req, s, 0);
    }
}

static void on_loaded(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct load_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        if (st->peek != NULL)
            finish_peek(st, NULL, NULL, 0);
        else
            finish(st, NULL, NULL);
        return;
    }
    int absent = err == NULL && reply != NULL && !live(auth_worker_of(req), reply, st->key);
    if (st->peek != NULL) {
        peeked(st, req, reply, err, absent);
        return;
    }
    if (err != NULL || reply == NULL) {
        auth_unavailable(req, "The session store");
        finish(st, req, NULL);
        return;
    }
    if (absent) {
        not_logged_in(req);
        finish(st, req, NULL);
        return;
    }
    const char *account = elem(reply, 0), *role = elem(reply, 1), *office = elem(reply, 2),
               *csrf = elem(reply, 3);
    int r = role != NULL ? auth_role_parse(role) : -1;
    char *end = NULL;
    long long id = account != NULL ? strtoll(account, &end, 10) : 0;
    if (reply->type != REDIS_REPLY_ARRAY || r < 0 || end == account || *end != '\0' || office == NULL ||
        csrf == NULL || strlen(csrf) != 64 || strlen(office) > AUTH_OFFICE_MAX) {
        not_logged_in(req);
        finish(st, req, NULL);
        return;
    }
    if (st->check_csrf && sodium_memcmp(st->csrf, csrf, 64) != 0) {
        auth_problem(req, 403, "CSRF token mismatch",
                     "X-CSRF-Token: the header does not match this session's CSRF token.");
        finish(st, req, NULL);
        return;
    }
    if (st->roles != 0 && !(st->roles & AUTH_ROLE_BIT(r))) {
        auth_problem(req, 403, "Forbidden", "This account's role may not use this resource.");
        finish(st, req, NULL);
        return;
    }
    if (st->check_office &&
        (r == AUTH_ROLE_CONSULAR_STAFF || (r == AUTH_ROLE_CONSULAR_ADMIN && office[0] != '\0')) &&
        strcmp(office, st->office) != 0) {
        auth_problem(req, 403, "Forbidden", "This account may act only on its own office.");
        finish(st, req, NULL);
        return;
    }
    struct auth_session *s = h2o_mem_alloc_pool(&req->pool, sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->account_id = id;
    s->role = (enum auth_role)r;
    memcpy(s->office, office, strlen(office) + 1);
    memcpy(s->csrf, csrf, 65);
    snprintf(s->key, sizeof(s->key), "%s", st->key);
    finish(st, req, s);
}

/* HMGET (answered to on_loaded) and PEXPIRE, in one round trip. 0, or -1 when nothing was sent. */
static int send_load(struct auth_worker *aw, h2o_req_t *req, struct load_state *st)
{
    struct redis_client *rc = server_worker_redis(server_worker_of(req));
    char idle[24];
    snprintf(idle, sizeof(idle), "%llu", (unsigned long long)aw->cfg.session_idle_s * 1000);
    const char *get[] = {"HMGET", st->key, "account", "role", "office", "csrf", "created"};
    if (redis_command(rc, on_loaded, st, 7, get, NULL) != 0)
        return -1;
    const char *touch[] = {"PEXPIRE", st->key, idle};
    (void)redis_command(rc, auth_redis_ignore, NULL, 3, touch, NULL); /* if lost: an earlier idle end */
    return 0;
}

static void load(h2o_req_t *req, unsigned roles, const char *office, auth_session_cb cb, void *ctx)
{
    struct auth_worker *aw = auth_worker_of(req);
    size_t len = 0;
    const char *token = server_cookie(req, AUTH_COOKIE, &len);
    if (aw == NULL) {
        auth_unavailable(req, "Authentication");
        cb(req, NULL, ctx);
        return;
    }
    if (token == NULL || len != 64 || !auth_is_hex(token, len)) {
        not_logged_in(req);
        cb(req, NULL, ctx);
        return;
    }
    int safe = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
               h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    size_t clen = 0;
    const char *csrf = safe ? NULL : server_header(req, "x-csrf-token", &clen);
    if (!safe && (csrf == NULL || clen != 64)) {
        auth_problem(req, 403, "CSRF token missing",
                     "X-CSRF-Token: this request changes state and needs the session's CSRF token in this "
                     "header (or field 'csrf' in forms).");
        cb(req, NULL, ctx);
        return;
    }
    struct load_state *st = server_async_alloc(req, sizeof(*st));
    st->cb = cb;
    st->ctx = ctx;
    st->roles = roles;
    if (office != NULL) {
        st->check_office = 1;
        snprintf(st->office, sizeof(st->office), "%s", office);
    }
    if (!safe) {
        st->check_csrf = 1;
        memcpy(st->csrf, csrf, 64);
    }
    session_key(aw, token, st->key, sizeof(st->key));
    if (send_load(aw, req, st) != 0) {
        auth_unavailable(req, "The session store");
        finish(st, req, NULL);
    }
}

void auth_peek_session(h2o_req_t *req, auth_peek_cb cb, void *ctx)
{
    struct auth_worker *aw = auth_worker_of(req);
    size_t len = 0;
    const char *token = server_cookie(req, AUTH_COOKIE, &len);
    if (aw == NULL) {
        cb(req, NULL, 503, ctx);
        return;
    }
    if (token == NULL || len != 64 || !auth_is_hex(token, len)) {
        cb(req, NULL, 401, ctx);
        return;
    }
    struct load_state *st = server_async_alloc(req, sizeof(*st));
    st->peek = cb;
    st->ctx = ctx;
    session_key(aw, token, st->key, sizeof(st->key));
    if (send_load(aw, req, st) != 0)
        finish_peek(st, req, NULL, 503);
}

void auth_load_session(h2o_req_t *req, auth_session_cb cb, void *ctx)
{
    load(req, 0, NULL, cb, ctx);
}

void auth_require(h2o_req_t *req, unsigned roles, const char *office_code, auth_session_cb cb, void *ctx)
{
    load(req, roles != 0 ? roles : ~0u, office_code, cb, ctx);
}

/* --- creating a session --- */

struct store_ctx {
    auth_store_cb cb;
    void *ctx;
};

static void on_stored(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct store_ctx *sc = ctx;
    int rc = err == NULL && reply != NULL && reply->type == REDIS_REPLY_INTEGER ? 0 : -EIO;
    auth_store_cb cb = sc->cb;
    void *cctx = sc->ctx;
    free(sc);
    cb(rc, cctx);
}

int auth_session_create(struct auth_worker *aw, int64_t account_id, enum auth_role role, const char *office,
                        char token[65], char csrf[65], auth_store_cb cb, void *ctx)
{
    struct store_ctx *sc = malloc(sizeof(*sc));
    if (sc == NULL)
        return -ENOMEM;
    sc->cb = cb;
    sc->ctx = ctx;
    auth_token_new(token);
    auth_token_new(csrf);
    char key[128], index[128], ttl[24], index_ttl[24], id[24];
    session_key(aw, token, key, sizeof(key));
    uint64_t ttl_s = aw->cfg.session_idle_s < aw->cfg.session_absolute_s ? aw->cfg.session_idle_s
                                                                         : aw->cfg.session_absolute_s;
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)ttl_s * 1000);
    snprintf(index_ttl, sizeof(index_ttl), "%llu", (unsigned long long)aw->cfg.session_absolute_s * 1000);
    snprintf(id, sizeof(id), "%lld", (long long)account_id);
    auth_account_index_key(aw, id, index, sizeof(index));
    const char *argv[] = {key,      index,  ttl,    index_ttl, "account", id, "role", auth_role_name(role),
                          "office", office, "csrf", csrf};
    int rc = redis_evalsha(server_worker_redis(aw->w), aw->session_store, 2, 12, argv, NULL, on_stored, sc);
    if (rc != 0)
        free(sc);
    return rc;
}
