/*
 * helpdesk: incident tickets of the consular help desk and its read-only look-up of a citizen's
 * appointments (tables in sql/009_helpdesk.sql).
 *
 * Tickets are numbered INC-YYYY-NNNNNN, sequential per (UTC) year: a ticket_counters row per year is
 * incremented in the statement that inserts the ticket, so numbers never repeat and have no gaps for
 * committed tickets. States and their allowed transitions:
 *   abierto -> en_proceso | cerrado;  en_proceso -> resuelto | abierto;  resuelto -> cerrado | en_proceso;
 *   cerrado -> none.  An illegal transition is 409. closed_at is set on entering cerrado.
 * Every state change and reassignment is also written to the ticket's notes history (kind "change").
 *
 * Every route requires a helpdesk or sysadmin session (auth_require: 401 without a session, 403 for
 * other roles or a missing/wrong X-CSRF-Token on writes). Bad input is a 400/422 problem+json.
 * Every appointment look-up is recorded in helpdesk_lookups (who, whose email, when, client address) in
 * the same transaction that reads the appointments.
 *
 * Handlers keep no per-worker state: they use the worker's PostgreSQL pool. Threads: the request's worker.
 */
#ifndef CITAS_HELPDESK_H
#define CITAS_HELPDESK_H

#include <h2o.h>

#include "citas/server.h"

#define HELPDESK_TEXT_MAX 4000 /* description and note bytes (valid UTF-8) */

/* 1 if `s` is a state name / concept name of the lists above. */
int helpdesk_state_valid(const char *s);
int helpdesk_concept_valid(const char *s);
/* 1 if from -> to is an allowed transition. */
int helpdesk_transition_allowed(const char *from, const char *to);

/* POST /api/v1/tickets {concept, description, email?, appointment_code?, office?} -> 201 ticket. */
void helpdesk_on_create(h2o_req_t *req, const struct server_params *p);
/* GET /api/v1/tickets?status=&concept=&office=&from=&to=&q=&format=csv (newest first, at most 1000). */
void helpdesk_on_list(h2o_req_t *req, const struct server_params *p);
/* GET /api/v1/tickets/{number}: the ticket with its notes history. */
void helpdesk_on_get(h2o_req_t *req, const struct server_params *p);
/* PATCH /api/v1/tickets/{number} {state?, assignee? (account id or null)}: 200, 404, 409, 422. */
void helpdesk_on_update(h2o_req_t *req, const struct server_params *p);
/* POST /api/v1/tickets/{number}/notes {body}: 201 note. */
void helpdesk_on_note(h2o_req_t *req, const struct server_params *p);
/* GET /api/v1/tickets/stats?from=&to= (YYYY-MM-DD, default the last 30 days): counts by concept, by
 * state and per day (tickets opened in the range). */
void helpdesk_on_stats(h2o_req_t *req, const struct server_params *p);
/* GET /api/v1/helpdesk/appointments?email=: the citizen's appointments, read-only; the look-up is recorded.
 */
void helpdesk_on_lookup(h2o_req_t *req, const struct server_params *p);

#endif
