/* Private to the helpdesk module. */
#ifndef CITAS_HELPDESK_INTERNAL_H
#define CITAS_HELPDESK_INTERNAL_H

#include "citas/auth.h"
#include "citas/helpdesk.h"
#include "citas/json.h"
#include "citas/pg.h"
#include "citas/server.h"

#include <libpq-fe.h>
#include <stdint.h>

#define HD_ROLES      (AUTH_ROLE_BIT(AUTH_ROLE_HELPDESK) | AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN))
#define HD_NUMBER_LEN 15 /* INC-YYYY-NNNNNN */

/* One request's state (server_async_alloc). Strings are NULL when absent. */
struct hd_req {
    struct pg_pool *pg;
    char number[HD_NUMBER_LEN + 1];
    char ip[64];
    char account[24];
    int csv;
    int nparams;
    const char *v[10];
    char email[AUTH_EMAIL_MAX + 1];
    char date_from[11], date_to[11];
};

/*
 * Every handler's start: allocates the request's state of `size` bytes (struct hd_req first; 503 when out of
 * memory), with the pool and the client's address, keeps the ticket number of the path when `p` has a
 * well-formed one (else number stays "": the handler answers 404 after the role check), and runs
 * auth_require() for the help-desk roles with `cb` and the state.
 */
void hd_start(h2o_req_t *req, const struct server_params *p, size_t size, auth_session_cb cb);
/* 1 if s[0..len) is INC-YYYY-NNNNNN. */
int hd_number_valid(const char *s, size_t len);
/* 1 for YYYY-MM-DD (shape and a real calendar date). */
int hd_date_valid(const char *s, size_t len);
/* A member that must be a string when present: 0 absent (*out NULL), 1 present, -1 wrong type (answered). */
int hd_opt_str(h2o_req_t *req, const struct json_value *body, const char *key, const char **out, size_t *len);
/* 1 if s is valid UTF-8 text of 1..max bytes that is not only white space. */
int hd_text_ok(const char *s, size_t len, size_t max);
void hd_unavailable(h2o_req_t *req);
void hd_bad(h2o_req_t *req, int status, const char *detail);
/* The ticket row columns (see HD_TICKET_COLS) written as a JSON object. */
#define HD_TICKET_COLS                                                                                       \
    "t.number, t.state, t.concept, t.description, t.citizen_email, t.appointment_code, t.office_code, "      \
    "t.assignee_id, to_char(t.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "             \
    "to_char(t.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), t.created_by"
#define HD_NTICKET_COLS 11
void hd_json_ticket(struct json_buf *b, const char *key, const PGresult *r, int row);

#endif
