/*
 * Staff accounts, for sysadmin only:
 *   GET   /api/v1/admin/staff?office=&role=   every non-citizen account (filters optional)
 *   POST  /api/v1/admin/staff                 {email, name, role, office?, password} -> 201
 *   PATCH /api/v1/admin/staff/{id}            {role?, office?, disabled?, password?, name?} -> 200
 * Create: PARSE -> HASH (Argon2id on the hashing pool, off the loop) -> one transaction (office exists,
 * INSERT, audit record) -> 201. Update: PARSE -> READ (the account must be staff: else 404) -> HASH when a
 * password is given -> one transaction (UPDATE, audit record) -> REVOKE -> 200. REVOKE ends every live
 * session and pending login of the account (its Redis index, see auth_account_index_key()) whenever the
 * role, office, password or disabled flag was written, so a disabled account is refused at its next
 * request and a changed role or office takes effect at the next login. A sysadmin cannot disable or
 * demote their own account (409): the network keeps at least the admin who is acting.
 */
#include "internal.h"

#include "citas/audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAFF_JSON                                                                                           \
    "json_build_object('id', a.id, 'email', a.email, 'name', a.full_name, 'role', a.role, 'office',"         \
    " a.office_code, 'disabled', a.disabled, 'created_at',"                                                  \
    " to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"

static const char sql_list[] =
    "SELECT json_build_object('staff', coalesce(json_agg(" STAFF_JSON " ORDER BY a.id), '[]'))::text"
    " FROM accounts a WHERE a.role <> 'citizen' AND ($1::text IS NULL OR a.office_code = $1)"
    " AND ($2::text IS NULL OR a.role = $2)";
static const char sql_office_check[] =
    "SELECT admin_require($1::text IS NULL OR EXISTS (SELECT 1 FROM offices WHERE code = $1), 'CA422',"
    " 'office: there is no such office.')";
static const char sql_create[] =
    "INSERT INTO accounts AS a (email, password_hash, full_name, role, office_code, verified_at)"
    " VALUES ($1, $2, $3, $4, $5, now()) RETURNING " STAFF_JSON "::text";
static const char sql_read[] =
    "SELECT a.role, coalesce(a.office_code, ''), a.email FROM accounts a WHERE a.id = $1::bigint"
    " AND a.role <> 'citizen'";
/* $3 says whether the office was given ($4, NULL to clear); a move to helpdesk or sysadmin drops it */
static const char sql_update[] =
    "UPDATE accounts AS a SET role = coalesce($2, role),"
    " office_code = CASE WHEN $3::boolean THEN $4 WHEN $2 IN ('helpdesk', 'sysadmin') THEN NULL"
    " ELSE office_code END, disabled = coalesce($5::boolean, disabled),"
    " password_hash = coalesce($6, password_hash), full_name = coalesce($7, full_name)"
    " WHERE id = $1::bigint AND role <> 'citizen' RETURNING " STAFF_JSON "::text, a.office_code";

enum op { OP_LIST, OP_CREATE, OP_UPDATE };

struct staff_req {
    struct auth_worker *aw;
    enum op op;
    char ip[64];
    char id[24];
    int64_t actor;
    const char *actor_role; /* static */
    /* parsed body (strings in the request's pool) */
    char email[AUTH_EMAIL_MAX + 1];
    const char *name, *role, *office;
    int office_set, disabled; /* disabled: -1 not given */
    char password[AUTH_PASSWORD_MAX + 1];
    size_t password_len;
    char hash[crypto_pwhash_STRBYTES];
    char old_office[AUTH_OFFICE_MAX + 1], old_email[AUTH_EMAIL_MAX + 1];
    int revoke;
    char *result; /* the account's JSON, in the request's pool (NULL when the client left) */
};

static void done(struct staff_req *st)
{
    sodium_memzero(st->password, sizeof(st->password));
    sodium_memzero(st->hash, sizeof(st->hash));
    server_async_release(st);
}

static void pg_failed(h2o_req_t *req, const struct pg_reply *r)
{
    if (r->status == PG_ERR_QUERY) {
        const char *m = pg_error_message(r);
        if (strcmp(r->sqlstate, "23505") == 0) {
            auth_problem(req, 409, "Conflict", "email: an account with this address exists already.");
            return;
        }
        if (strcmp(r->sqlstate, "23514") == 0) {
            auth_problem(
                req, 422, "Unprocessable",
                "office: a consular_staff account needs an office; helpdesk and sysadmin accounts have "
                "none.");
            return;
        }
        if (strcmp(r->sqlstate, "CA404") == 0 || strcmp(r->sqlstate, "CA422") == 0) {
            int s = r->sqlstate[2] == '4' && r->sqlstate[3] == '0' ? 404 : 422;
            auth_problem(req, s, s == 404 ? "Not found" : "Unprocessable",
                         m != NULL ? m : "The request cannot be carried out.");
            return;
        }
    }
    auth_unavailable(req, "The account database");
}

/* --- parsing --- */

static int is_staff_role(int r)
{
    return r == AUTH_ROLE_CONSULAR_STAFF || r == AUTH_ROLE_CONSULAR_ADMIN || r == AUTH_ROLE_HELPDESK ||
           r == AUTH_ROLE_SYSADMIN;
}

static int parse(h2o_req_t *req, struct staff_req *st, const struct json_value *body)
{
    static const char *const create_fields[] = {"email", "name", "role", "office", "password", NULL};
    static const char *const update_fields[] = {"role", "office", "disabled", "password", "name", NULL};
    int create = st->op == OP_CREATE;
    if (auth_only_fields(req, body, create ? create_fields : update_fields) != 0)
        return -1;
    const char *email = NULL, *name = NULL, *role = NULL, *password = NULL, *why;
    size_t elen = 0, nlen = 0, rlen = 0, plen = 0;
    if ((create && auth_str_field(req, body, "email", AUTH_EMAIL_MAX, 0, &email, &elen) != 0) ||
        auth_str_field(req, body, "name", AUTH_NAME_MAX, !create, &name, &nlen) != 0 ||
        auth_str_field(req, body, "role", 32, !create, &role, &rlen) != 0 ||
        auth_str_field(req, body, "password", AUTH_PASSWORD_MAX, !create, &password, &plen) != 0)
        return -1;
    if (email != NULL && auth_email_parse(email, elen, st->email, &why) != 0) {
        auth_bad_field(req, "email", why);
        return -1;
    }
    if (name != NULL && auth_name_check(name, nlen, &why) != 0) {
        auth_bad_field(req, "name", why);
        return -1;
    }
    if (password != NULL && auth_password_check(password, plen, &why) != 0) {
        auth_bad_field(req, "password", why);
        return -1;
    }
    int r = role != NULL ? auth_role_parse(role) : -1;
    if (role != NULL && !is_staff_role(r)) {
        auth_bad_field(req, "role", "one of consular_staff, consular_admin, helpdesk, sysadmin");
        return -1;
    }
    const struct json_value *office = json_get(body, "office");
    if (office != NULL && office->type != JSON_NULL &&
        (office->type != JSON_STRING || !auth_office_code_valid(office->str, office->len))) {
        auth_bad_field(req, "office", "an office code, or null");
        return -1;
    }
    st->office_set = office != NULL;
    st->office = office != NULL && office->type == JSON_STRING ? office->str : NULL;
    if (role != NULL && st->office_set) {
        if (r == AUTH_ROLE_CONSULAR_STAFF && st->office == NULL) {
            auth_bad_field(req, "office", "a consular_staff account needs an office");
            return -1;
        }
        if ((r == AUTH_ROLE_HELPDESK || r == AUTH_ROLE_SYSADMIN) && st->office != NULL) {
            auth_bad_field(req, "office", "helpdesk and sysadmin accounts have no office");
            return -1;
        }
    } else if (create && r == AUTH_ROLE_CONSULAR_STAFF) {
        auth_bad_field(req, "office", "a consular_staff account needs an office");
        return -1;
    }
    const struct json_value *dis = json_get(body, "disabled");
    st->disabled = -1;
    if (dis != NULL) {
        if (dis->type != JSON_TRUE && dis->type != JSON_FALSE) {
            auth_bad_field(req, "disabled", "true or false");
            return -1;
        }
        st->disabled = dis->type == JSON_TRUE;
    }
    if (!create && role == NULL && !st->office_set && st->disabled < 0 && password == NULL && name == NULL) {
        auth_problem(req, 422, "Unprocessable", "Nothing to change.");
        return -1;
    }
    st->name = name;
    st->role = role != NULL ? auth_role_name((enum auth_role)r) : NULL;
    if (password != NULL) {
        memcpy(st->password, password, plen);
        st->password_len = plen;
    }
    st->revoke = role != NULL || st->office_set || st->disabled >= 0 || password != NULL;
    return 0;
}

/* --- writing --- */

static void answer(struct staff_req *st)
{
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (st->op == OP_CREATE) {
            char loc[64];
            snprintf(loc, sizeof(loc), "/api/v1/admin/staff/%s", st->id);
            server_add_header(req, "location", loc);
        }
        server_send_json(req, st->op == OP_CREATE ? 201 : 200, st->result, strlen(st->result));
    }
    done(st);
}

static void on_revoked(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct staff_req *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (err != NULL || reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        if (req != NULL)
            auth_unavailable(req, "The session store (the change is saved, but its live sessions may remain: "
                                  "repeat the request)");
        done(st);
        return;
    }
    answer(st);
}

static void on_written(const struct pg_reply *r, void *ctx)
{
    struct staff_req *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (r->status != PG_OK) {
        if (req != NULL)
            pg_failed(req, r);
        done(st);
        return;
    }
    const PGresult *res = r->results[1];
    if (req != NULL) {
        const char *json = PQgetvalue(res, 0, 0);
        size_t n = strlen(json);
        st->result = h2o_mem_alloc_pool(&req->pool, n + 1);
        memcpy(st->result, json, n + 1);
    }
    if (st->op == OP_CREATE) {
        /* the id, for Location: the first member of the object is "id" : N */
        const char *p = strchr(PQgetvalue(res, 0, 0), ':');
        snprintf(st->id, sizeof(st->id), "%lld", p != NULL ? strtoll(p + 1, NULL, 10) : 0LL);
    }
    if (st->op != OP_UPDATE || !st->revoke) {
        answer(st);
        return;
    }
    /* committed: the sessions end even if the client has gone */
    char index[128];
    auth_account_index_key(st->aw, st->id, index, sizeof(index));
    const char *argv[] = {index};
    if (redis_evalsha(server_worker_redis(st->aw->w), st->aw->revoke, 1, 1, argv, NULL, on_revoked, st) != 0)
        on_revoked(NULL, NULL, "not connected", st);
}

static void write_tx(h2o_req_t *req, struct staff_req *st)
{
    struct json_buf d;
    json_buf_init(&d, &req->pool);
    json_open_object(&d, NULL);
    const char *office = st->office_set ? st->office
                         : st->op == OP_UPDATE && st->role != NULL &&
                                 (strcmp(st->role, "helpdesk") == 0 || strcmp(st->role, "sysadmin") == 0)
                             ? NULL
                         : st->old_office[0] ? st->old_office
                                             : NULL;
    if (office != NULL)
        json_add_str(&d, "office", office);
    if (st->op == OP_UPDATE && st->old_office[0] != '\0' &&
        (office == NULL || strcmp(office, st->old_office) != 0))
        json_add_str(&d, "previous_office", st->old_office);
    json_add_str(&d, "email", st->op == OP_CREATE ? st->email : st->old_email);
    if (st->role != NULL)
        json_add_str(&d, "role", st->role);
    if (st->disabled >= 0)
        json_add_bool(&d, "disabled", st->disabled);
    if (st->password_len > 0)
        json_add_bool(&d, "password_changed", 1);
    if (st->name != NULL)
        json_add_bool(&d, "name_changed", 1);
    json_close_object(&d);
    char *detail = json_buf_str(&d);
    char subject[AUTH_EMAIL_MAX + 16];
    snprintf(subject, sizeof(subject), "account:%s", st->op == OP_CREATE ? st->email : st->id);
    struct audit_event ev = {.actor_account = st->actor,
                             .actor_role = st->actor_role,
                             .action = st->op == OP_CREATE ? "staff.create" : "staff.update",
                             .subject = subject,
                             .detail_json = detail,
                             .client_ip = st->ip[0] ? st->ip : NULL};
    struct pg_tx *tx = pg_tx_begin(server_worker_pg(server_worker_of(req)));
    const char *vo[] = {st->office};
    int rc = tx == NULL ? -1 : pg_tx_add(tx, sql_office_check, 1, vo);
    if (rc == 0 && st->op == OP_CREATE) {
        const char *v[] = {st->email, st->hash, st->name, st->role, st->office};
        rc = pg_tx_add(tx, sql_create, 5, v);
    } else if (rc == 0) {
        const char *v[] = {st->id,
                           st->role,
                           st->office_set ? "true" : "false",
                           st->office,
                           st->disabled < 0 ? NULL
                           : st->disabled   ? "true"
                                            : "false",
                           st->password_len > 0 ? st->hash : NULL,
                           st->name};
        rc = pg_tx_add(tx, sql_update, 7, v);
    }
    if (rc == 0)
        rc = audit_tx_add(tx, &ev);
    if (rc != 0) {
        pg_tx_abort(tx);
        auth_unavailable(req, "The account database");
        done(st);
        return;
    }
    if (pg_tx_commit(tx, on_written, st) != 0) {
        auth_unavailable(req, "The account database");
        done(st);
    }
}

static void on_hashed(int res, const char *hash, void *ctx)
{
    struct staff_req *st = ctx;
    sodium_memzero(st->password, sizeof(st->password));
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        done(st);
        return;
    }
    if (res != 0 || hash == NULL) {
        auth_unavailable(req, "Password hashing");
        done(st);
        return;
    }
    snprintf(st->hash, sizeof(st->hash), "%s", hash);
    write_tx(req, st);
}

/* Hashes the password if there is one, then writes. */
static void hash_then_write(h2o_req_t *req, struct staff_req *st)
{
    if (st->password_len == 0) {
        write_tx(req, st);
        return;
    }
    if (auth_hash_submit(st->aw->mailbox, AUTH_HASH_CREATE, st->password, st->password_len, NULL, on_hashed,
                         st) != 0) {
        auth_unavailable(req, "Password hashing");
        done(st);
    }
}

static void on_read(const struct pg_reply *r, void *ctx)
{
    struct staff_req *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        done(st);
        return;
    }
    if (r->status != PG_OK) {
        pg_failed(req, r);
        done(st);
        return;
    }
    if (PQntuples(r->results[0]) != 1) {
        auth_problem(req, 404, "Not found", "There is no staff account with this id.");
        done(st);
        return;
    }
    snprintf(st->old_office, sizeof(st->old_office), "%s", PQgetvalue(r->results[0], 0, 1));
    snprintf(st->old_email, sizeof(st->old_email), "%s", PQgetvalue(r->results[0], 0, 2));
    hash_then_write(req, st);
}

static void on_list(const struct pg_reply *r, void *ctx)
{
    struct staff_req *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (r->status != PG_OK) {
            pg_failed(req, r);
        } else {
            const char *json = PQgetvalue(r->results[0], 0, 0);
            server_send_json(req, 200, json, strlen(json));
        }
    }
    done(st);
}

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct staff_req *st = ctx;
    if (req == NULL || s == NULL) {
        done(st);
        return;
    }
    st->actor = s->account_id;
    st->actor_role = auth_role_name(s->role);
    struct pg_pool *pg = server_worker_pg(server_worker_of(req));
    if (st->op == OP_LIST) {
        size_t olen = 0, rlen = 0;
        const char *office = server_query(req, "office", &olen), *role = server_query(req, "role", &rlen);
        if ((office != NULL && !auth_office_code_valid(office, olen)) ||
            (role != NULL && !is_staff_role(auth_role_parse(role)))) {
            auth_problem(req, 400, "Bad request",
                         "office is an office code; role one of consular_staff, consular_admin, helpdesk, "
                         "sysadmin.");
            done(st);
            return;
        }
        const char *v[] = {office, role};
        if (pg_query(pg, sql_list, 2, v, on_list, st) != 0) {
            auth_unavailable(req, "The account database");
            done(st);
        }
        return;
    }
    const struct json_value *body = server_json_body(req);
    if (body == NULL || parse(req, st, body) != 0) {
        done(st);
        return;
    }
    if (st->op == OP_CREATE) {
        hash_then_write(req, st);
        return;
    }
    if (strtoll(st->id, NULL, 10) == s->account_id &&
        (st->disabled == 1 || (st->role != NULL && strcmp(st->role, auth_role_name(s->role)) != 0))) {
        auth_problem(req, 409, "Conflict", "You cannot disable your own account or change its role.");
        done(st);
        return;
    }
    const char *v[] = {st->id};
    if (pg_query(pg, sql_read, 1, v, on_read, st) != 0) {
        auth_unavailable(req, "The account database");
        done(st);
    }
}

static void start(h2o_req_t *req, const struct server_params *p, enum op op)
{
    struct auth_worker *aw = auth_worker_of(req);
    if (aw == NULL) {
        auth_unavailable(req, "Authentication");
        return;
    }
    struct staff_req *st = server_async_alloc(req, sizeof(*st));
    st->aw = aw;
    st->op = op;
    if (op == OP_UPDATE) {
        int64_t id = 0;
        const char *s = p->v[0].base;
        size_t n = p->v[0].len;
        for (size_t i = 0; i < n && n <= 18; i++)
            id = s[i] >= '0' && s[i] <= '9' ? id * 10 + (s[i] - '0') : -1;
        if (n == 0 || n > 18 || id <= 0) {
            auth_problem(req, 404, "Not found", "There is no staff account with this id.");
            done(st);
            return;
        }
        snprintf(st->id, sizeof(st->id), "%" PRId64, id);
    }
    server_client_ip(req, st->ip);
    auth_require(req, AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN), NULL, on_session, st);
}

void auth_on_admin_staff_list(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, OP_LIST);
}

void auth_on_admin_staff_create(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, OP_CREATE);
}

void auth_on_admin_staff_update(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, OP_UPDATE);
}
