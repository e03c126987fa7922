/* GET /api/v1/me (the account's own data) and the placeholder staff route that exercises auth_require(). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct me_state {
    char csrf[65];
};

static void on_account(const struct pg_reply *reply, void *ctx)
{
    struct me_state *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (auth_account_row(req, reply)) {
            const PGresult *r = reply->results[0];
            struct json_buf b;
            json_buf_init(&b, &req->pool);
            json_open_object(&b, NULL);
            json_add_int(&b, "id", strtoll(PQgetvalue(r, 0, 0), NULL, 10));
            json_add_str(&b, "email", PQgetvalue(r, 0, 1));
            json_add_str(&b, "full_name", PQgetvalue(r, 0, 2));
            if (PQgetisnull(r, 0, 3)) {
                json_add_null(&b, "document");
            } else {
                json_open_object(&b, "document");
                json_add_str(&b, "type", PQgetvalue(r, 0, 3));
                json_add_str(&b, "number", PQgetvalue(r, 0, 4));
                json_close_object(&b);
            }
            json_add_str(&b, "lang", PQgetvalue(r, 0, 5));
            json_add_bool(&b, "verified", strcmp(PQgetvalue(r, 0, 6), "t") == 0);
            json_add_str(&b, "role", PQgetvalue(r, 0, 7));
            json_add_str(&b, "office", PQgetisnull(r, 0, 8) ? NULL : PQgetvalue(r, 0, 8));
            json_add_str(&b, "csrf_token", st->csrf);
            json_close_object(&b);
            server_send_json(req, 200, b.base, b.len);
        }
    }
    server_async_release(st);
}

static void on_me_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    (void)ctx;
    if (req == NULL || s == NULL)
        return;
    struct me_state *st = server_async_alloc(req, sizeof(*st));
    memcpy(st->csrf, s->csrf, sizeof(st->csrf));
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)s->account_id);
    const char *v[] = {id};
    if (pg_query(server_worker_pg(server_worker_of(req)),
                 "SELECT id, email, full_name, doc_type, doc_number, lang, verified_at IS NOT NULL, role, "
                 "office_code FROM accounts WHERE id = $1 AND NOT disabled",
                 1, v, on_account, st) != 0) {
        auth_unavailable(req, "The account database");
        server_async_release(st);
    }
}

void auth_on_me(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    auth_load_session(req, on_me_session, NULL);
}

static void on_whoami(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    (void)ctx;
    if (req == NULL || s == NULL)
        return;
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_add_int(&b, "account_id", s->account_id);
    json_add_str(&b, "role", auth_role_name(s->role));
    json_add_str(&b, "office", s->office[0] != '\0' ? s->office : NULL);
    json_close_object(&b);
    server_send_json(req, 200, b.base, b.len);
}

void auth_on_admin_whoami(h2o_req_t *req, const struct server_params *p)
{
    if (p->n < 1 || !auth_office_code_valid(p->v[0].base, p->v[0].len)) {
        auth_problem(req, 404, "Not found", "There is no office with this code.");
        return;
    }
    char *code = h2o_mem_alloc_pool(&req->pool, p->v[0].len + 1);
    memcpy(code, p->v[0].base, p->v[0].len);
    code[p->v[0].len] = '\0';
    auth_require(req,
                 AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_STAFF) | AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_ADMIN) |
                     AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN),
                 code, on_whoami, NULL);
}
