/*
 * booking: seats, holds and appointments (DESIGN.md §3, "Booking, step by step").
 *
 * Redis hands out seats (sql/006_booking.sql and the booking data contract describe every key); PostgreSQL
 * is the truth. A booking is a state machine over one struct from server_async_alloc():
 *   SESSION → ACCOUNT → RATE → CAPTCHA → RESERVE → PERSIST → CONFIRM → 201
 * RESERVE is one Lua script (release time, slot and window open, the person's pre-check, reclaim of
 * expired holds, SPOP of a seat, the hold with its TTL); a sold-out slot answers 409 there, so losing
 * attempts never touch PostgreSQL. PERSIST is one transaction per booking (appointment + booking_events +
 * the confirmation mail with its .ics), pipelined with the other bookings of the loop turn on the pool's
 * connections: each has its own Sync, so one failing row fails only itself. Any failure after RESERVE gives
 * the seat back (release script), except a PostgreSQL timeout or dropped connection, where the commit may
 * have happened: then the hold is left alone and a reconciliation asks PostgreSQL, later, whether the
 * appointment exists, and confirms or releases it in Redis (if citasd dies first, the hold simply expires
 * and PostgreSQL's unique index keeps the seat from being sold twice; see booking_rebuild()).
 *
 * Threads: handlers run on the worker that owns the request; booking_rebuild() on the ring it is given.
 */
#ifndef CITAS_BOOKING_H
#define CITAS_BOOKING_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>

#include "citas/server.h"

struct ring;
struct pg_pool;
struct redis_client;

/*
 * The module: configuration keys booking_hold_ttl_ms (30000), booking_next_dates (5),
 * booking_rebuild_on_start (1: worker 0 rebuilds Redis from PostgreSQL once at start-up, retrying every
 * few seconds until PostgreSQL answers), booking_reconcile_delay_ms (2000) and booking_account_cache_s (300,
 * how long an account's document, email and language are cached in Redis).
 */
extern const struct server_module booking_server_module;

/* --- HTTP handlers for citasd's route table (citizen routes need a session; writes need CSRF) --- */
void booking_on_create(h2o_req_t *req, const struct server_params *p); /* POST /api/v1/appointments */
void booking_on_list(h2o_req_t *req, const struct server_params *p);   /* GET /api/v1/appointments */
void booking_on_get(h2o_req_t *req, const struct server_params *p); /* GET .../appointments/{code} (+.ics) */
void booking_on_cancel(h2o_req_t *req, const struct server_params *p); /* DELETE .../appointments/{code} */
void booking_on_reschedule(h2o_req_t *req, const struct server_params *p); /* POST .../{code}/reschedule */
/* POST /api/v1/captcha {"office", "captcha"}: verifies the hCaptcha response before the booking and keeps a
 * pass (booking_captcha_pass_s) that the account's next booking attempt in that office uses instead of
 * siteverify (src/booking/captcha_pass.c). */
void booking_on_captcha_pass(h2o_req_t *req, const struct server_params *p);
/* Staff of the office (auth_require). */
void booking_on_agenda(h2o_req_t *req,
                       const struct server_params *p); /* GET /api/v1/admin/offices/{code}/agenda */
void booking_on_check_in(h2o_req_t *req,
                         const struct server_params *p); /* POST /api/v1/admin/appointments/{code}/check-in */
void booking_on_no_show(h2o_req_t *req,
                        const struct server_params *p); /* POST /api/v1/admin/appointments/{code}/no-show */
/* DELETE /api/v1/admin/appointments/{code} {"reason"?}: staff of the appointment's office (or sysadmin)
 * cancel it; the citizen is mailed in their language and the seat is free again at once. */
void booking_on_staff_cancel(h2o_req_t *req, const struct server_params *p);

/* --- recovery --- */

struct booking_rebuild_stats {
    uint64_t offices, windows, slots, free_seats, persons;
};
/* err is NULL on success, else a short English reason (valid during the call). */
typedef void (*booking_rebuild_cb)(const char *err, const struct booking_rebuild_stats *st, void *ctx);

/*
 * Recomputes every Redis key of the booking contract from PostgreSQL, office by office (`office` NULL:
 * all): for the slots of every window that has not ended, the slot hash, the procedure ZSET and the free
 * set (1..capacity minus seats of active/checked-in appointments, minus seats under a live hold, which
 * keeps in-flight attempts safe on a live system); the window hashes; the person keys of active
 * appointments (a person key naming an appointment no longer active is deleted when its owner next books:
 * see create.c). Asynchronous: cb runs exactly once,
 * on the ring's thread, never inside this call. pg and redis must outlive the call. Returns 0 or -ENOMEM.
 */
int booking_rebuild(struct pg_pool *pg, struct redis_client *redis, const char *office, booking_rebuild_cb cb,
                    void *ctx);

/* --- helpers, exported for tests and citasctl --- */

#define BOOKING_CODE_LEN 10
/* Code alphabet: no 0/O, 1/I: easy to read aloud and to type. */
#define BOOKING_CODE_ALPHABET "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
/* A new appointment code from OpenSSL's CSPRNG (NUL-terminated). 0 or -EIO. */
int booking_code_new(char out[BOOKING_CODE_LEN + 1]);
/* 1 if s[0..len) is a well-formed appointment code. */
int booking_code_valid(const char *s, size_t len);
/* hex SHA-256 of "<document_type>:<document_number>" (the person key's doc_hash). */
void booking_doc_hash(const char *doc_type, const char *doc_number, char out[65]);

#endif
