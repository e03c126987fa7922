/* helpdesk: validation, state rules and output helpers. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const states[] = {"abierto", "en_proceso", "resuelto", "cerrado"};
static const char *const concepts[] = {"sin_codigo",        "sin_citas",   "error_portal",
                                       "datos_incorrectos", "cancelacion", "otro"};
static const char *const transitions[][2] = {
    {"abierto", "en_proceso"}, {"abierto", "cerrado"},  {"en_proceso", "resuelto"},
    {"en_proceso", "abierto"}, {"resuelto", "cerrado"}, {"resuelto", "en_proceso"},
};

int helpdesk_state_valid(const char *s)
{
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(s, states[i]) == 0)
            return 1;
    return 0;
}

int helpdesk_concept_valid(const char *s)
{
    for (size_t i = 0; i < sizeof(concepts) / sizeof(concepts[0]); i++)
        if (strcmp(s, concepts[i]) == 0)
            return 1;
    return 0;
}

int helpdesk_transition_allowed(const char *from, const char *to)
{
    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
        if (strcmp(from, transitions[i][0]) == 0 && strcmp(to, transitions[i][1]) == 0)
            return 1;
    return 0;
}

void hd_start(h2o_req_t *req, const struct server_params *p, size_t size, auth_session_cb cb)
{
    struct hd_req *st = server_async_alloc(req, size);
    if (st == NULL) {
        hd_unavailable(req);
        return;
    }
    st->pg = server_worker_pg(server_worker_of(req));
    server_client_ip(req, st->ip);
    if (p != NULL && p->n >= 1 && hd_number_valid(p->v[0].base, p->v[0].len))
        memcpy(st->number, p->v[0].base, HD_NUMBER_LEN);
    auth_require(req, HD_ROLES, NULL, cb, st);
}

int hd_number_valid(const char *s, size_t len)
{
    static const char shape[] = "INC-9999-999999";
    if (len != HD_NUMBER_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (shape[i] == '9') {
            if (s[i] < '0' || s[i] > '9')
                return 0;
        } else if (s[i] != shape[i]) {
            return 0;
        }
    }
    return 1;
}

int hd_date_valid(const char *s, size_t len)
{
    return server_parse_date(s, len) >= 10957 ? 1 : 0; /* 10957: 2000-01-01 */
}

int hd_opt_str(h2o_req_t *req, const struct json_value *body, const char *key, const char **out, size_t *len)
{
    const struct json_value *v = json_get(body, key);
    *out = NULL;
    *len = 0;
    if (v == NULL || v->type == JSON_NULL)
        return 0;
    if (v->type != JSON_STRING) {
        char d[96];
        snprintf(d, sizeof(d), "Member \"%s\" must be a string.", key);
        hd_bad(req, 400, d);
        return -1;
    }
    *out = v->str;
    *len = v->len;
    return 1;
}

int hd_text_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max || strlen(s) != len || !json_utf8_valid(s, len))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 1;
    return 0;
}

void hd_unavailable(h2o_req_t *req)
{
    server_add_header(req, "retry-after", "2");
    server_send_problem(req, 503, "Service unavailable",
                        "The ticket database is unavailable right now; try again in a moment.");
}

void hd_bad(h2o_req_t *req, int status, const char *detail)
{
    server_send_problem(req, status, status == 422 ? "Unprocessable request" : "Bad request", detail);
}

void hd_json_ticket(struct json_buf *b, const char *key, const PGresult *r, int row)
{
    json_open_object(b, key);
    json_add_str(b, "number", pg_text(r, row, 0));
    json_add_str(b, "state", pg_text(r, row, 1));
    json_add_str(b, "concept", pg_text(r, row, 2));
    json_add_str(b, "description", pg_text(r, row, 3));
    json_add_str(b, "email", pg_text(r, row, 4));
    json_add_str(b, "appointment_code", pg_text(r, row, 5));
    json_add_str(b, "office", pg_text(r, row, 6));
    if (PQgetisnull(r, row, 7))
        json_add_null(b, "assignee");
    else
        json_add_int(b, "assignee", strtoll(PQgetvalue(r, row, 7), NULL, 10));
    json_add_str(b, "opened_at", pg_text(r, row, 8));
    json_add_str(b, "closed_at", pg_text(r, row, 9));
    json_add_int(b, "created_by", strtoll(PQgetvalue(r, row, 10), NULL, 10));
    json_close_object(b);
}
