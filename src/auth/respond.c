/* Answers shared by the auth handlers: problems, 503 with Retry-After, field checks of JSON bodies. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void auth_problem(h2o_req_t *req, int status, const char *title, const char *detail)
{
    server_send_problem(req, status, title, detail);
}

void auth_unavailable(h2o_req_t *req, const char *what)
{
    char detail[200];
    snprintf(detail, sizeof(detail), "%s is temporarily unavailable; try again in a few seconds.", what);
    server_add_header(req, "retry-after", "5");
    server_send_problem(req, 503, "Service unavailable", detail);
}

void auth_account_gone(h2o_req_t *req)
{
    auth_set_cookie(req, NULL, 0);
    auth_problem(req, 401, "Not logged in", "This session's account no longer exists.");
}

int auth_account_row(h2o_req_t *req, const struct pg_reply *reply)
{
    if (reply->status != PG_OK) {
        auth_unavailable(req, "The account database");
        return 0;
    }
    if (PQntuples(reply->results[0]) != 1) {
        auth_account_gone(req);
        return 0;
    }
    return 1;
}

void auth_bad_field(h2o_req_t *req, const char *field, const char *why)
{
    char detail[300];
    snprintf(detail, sizeof(detail), "%s: %s.", field, why);
    server_send_problem(req, 400, "Invalid field", detail);
}

int auth_only_fields(h2o_req_t *req, const struct json_value *obj, const char *const *allowed)
{
    for (size_t i = 0; i < obj->len; i++) {
        int known = 0;
        for (const char *const *a = allowed; *a != NULL && !known; a++)
            known = strcmp(obj->keys[i], *a) == 0;
        if (!known) {
            /* the key is client input: show it only if it is short and plain */
            const char *k = obj->keys[i];
            int plain = strlen(k) <= 40;
            for (const char *c = k; *c && plain; c++)
                plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                        *c == '_' || *c == '-';
            char detail[200];
            snprintf(detail, sizeof(detail), "Unknown field%s%s%s.", plain ? " '" : "", plain ? k : "",
                     plain ? "'" : "");
            server_send_problem(req, 400, "Invalid field", detail);
            return -1;
        }
    }
    return 0;
}

int auth_str_field(h2o_req_t *req, const struct json_value *obj, const char *key, size_t max, int optional,
                   const char **out, size_t *len)
{
    const struct json_value *v = json_get(obj, key);
    *out = NULL;
    if (len != NULL)
        *len = 0;
    if (v == NULL) {
        if (optional)
            return 0;
        auth_bad_field(req, key, "is required");
        return -1;
    }
    if (v->type != JSON_STRING) {
        auth_bad_field(req, key, "must be a string");
        return -1;
    }
    if (v->len > max) {
        char why[64];
        snprintf(why, sizeof(why), "is too long (at most %zu bytes)", max);
        auth_bad_field(req, key, why);
        return -1;
    }
    *out = v->str;
    if (len != NULL)
        *len = v->len;
    return 0;
}
