/*
 * calendar: offices, procedures and calendar windows (sql/005_calendar.sql), their slots in Redis, and
 * availability.
 *
 * Reference data (offices, procedures, hours) is read from PostgreSQL into a per-worker cache (refreshed
 * when older than calendar_reference_ttl_s, or at most every 5 s when a request names an unknown office)
 * and served with Cache-Control: max-age=60. Availability is answered from Redis only, by one Lua call
 * that also returns expired holds to their free sets; each worker keeps each answer for
 * calendar_availability_cache_ms (default 250) and lets concurrent requests for the same answer wait for
 * the one Redis call in flight, so a surge of pollers costs a few Redis calls per second per worker.
 *
 * Redis keys (the booking data contract; every key of one office carries the hash tag {OFF}):
 *   cal:{OFF}:slot:<id>      HASH office procedure window start(epoch s) local("YYYY-MM-DDTHH:MM")
 *                                 capacity release(epoch ms) state("open"|"closed"|"cancelled")
 *   cal:{OFF}:free:<id>      SET  free seat numbers "1".."capacity"
 *   cal:{OFF}:proc:<proc>    ZSET slot ids scored by start (epoch s)
 *   cal:{OFF}:window:<id>    HASH procedure release(epoch ms) state("open"|"closed")
 * Holds (bk:{OFF}:holds ZSET "<slot>:<seat>" → expiry ms, bk:{OFF}:hold:<slot>:<seat> with a PX TTL) are
 * booking's; availability reclaims a member whose score has passed and whose hold key is gone: ZREM it and
 * SADD the seat back to its free set. So turning a hold into a booking must ZREM its member (and DEL the
 * hold key) in the same script.
 *
 * Staff routes need a consular_admin or consular_staff session of the office (auth_require()).
 */
#ifndef CITAS_CALENDAR_H
#define CITAS_CALENDAR_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "citas/server.h"

/* Per-worker caches and scripts; configuration keys calendar_availability_cache_ms,
 * calendar_reference_ttl_s. */
extern const struct server_module calendar_server_module;

/* --- HTTP handlers for citasd's route table --- */
void calendar_on_offices(h2o_req_t *req, const struct server_params *p);    /* GET /api/v1/offices */
void calendar_on_office(h2o_req_t *req, const struct server_params *p);     /* GET .../offices/{code} */
void calendar_on_procedures(h2o_req_t *req, const struct server_params *p); /* GET .../{code}/procedures */
void calendar_on_availability(h2o_req_t *req,
                              const struct server_params *p); /* GET .../{code}/availability */
/* POST /api/v1/admin/offices/{code}/windows (?preview=1 writes nothing) and .../windows/preview */
void calendar_on_window_create(h2o_req_t *req, const struct server_params *p);
void calendar_on_window_preview(h2o_req_t *req, const struct server_params *p);
void calendar_on_window_list(h2o_req_t *req, const struct server_params *p); /* GET .../windows */
void calendar_on_window_close(h2o_req_t *req,
                              const struct server_params *p);               /* POST .../windows/{id}/close */
void calendar_on_day_cancel(h2o_req_t *req, const struct server_params *p); /* POST .../days/{date}/cancel */

/* Office settings (settings.c): staff and admins of the office read, consular_admin of the office and
 * sysadmin write; see README "Staff and sysadmin API". */
void calendar_on_settings(h2o_req_t *req, const struct server_params *p);            /* GET .../settings */
void calendar_on_settings_procedures(h2o_req_t *req, const struct server_params *p); /* PUT .../procedures */
void calendar_on_settings_hours(h2o_req_t *req, const struct server_params *p);      /* PUT .../hours */
void calendar_on_holiday_add(h2o_req_t *req, const struct server_params *p);         /* POST .../holidays */
void calendar_on_holiday_remove(h2o_req_t *req,
                                const struct server_params *p); /* DELETE .../holidays/{day} */
/* Offices, for sysadmin (offices.c): GET and POST /api/v1/admin/offices, PATCH /api/v1/admin/offices/{code}
 */
void calendar_on_admin_offices(h2o_req_t *req, const struct server_params *p);
void calendar_on_admin_office_create(h2o_req_t *req, const struct server_params *p);
void calendar_on_admin_office_update(h2o_req_t *req, const struct server_params *p);

/*
 * A process-wide counter bumped by every committed admin change of offices, procedures offered, hours or
 * holidays. Per-worker reference caches remember the value they loaded under and reload when it moved, so
 * a change shows at once in this process (other citasd instances: after their cache TTL). Any thread.
 */
uint64_t calendar_reference_version(void);

/* --- the availability cache, for the booking path --- */

struct calendar_free_slot {
    int64_t id, start; /* slot id, start (epoch s) */
    char local[20];    /* office-local "YYYY-MM-DDTHH:MM" */
};

/*
 * Up to `want` next days (office-local, from now) with a free seat in a released slot of the office's
 * procedure, one slot per day drawn at random (seeded by rnd) with odds by its free seats, leaving out slot
 * `except` (a slot just found sold out: the cached answer counts it so from now on, so that this worker's
 * later suggestions skip it too): from this worker's cache of availability answers, when it holds one
 * covering today that is at most max_age_ms old (availability requests keep it fresh during a release).
 * Returns how many were written (0: no day has a seat), or -1 without such an answer. Worker thread only;
 * no I/O.
 */
int calendar_free_days(struct server_worker *w, const char *office, const char *procedure, int64_t except,
                       unsigned want, uint32_t rnd, uint64_t max_age_ms, struct calendar_free_slot *out);

/* --- loading slots into Redis (also for citasctl: no server, no ring needed) --- */

/*
 * The loader script, run with EVALSHA/EVAL and 1 key, KEYS[1] = "cal:{OFF}:window:<window id>":
 *   ARGV = office, procedure, window id, release (epoch ms), window state ("open"|"closed"),
 *          then 6 per slot: slot id, start (epoch s), local ("YYYY-MM-DDTHH:MM"), capacity,
 *                           state ("open"|"closed"|"cancelled"), taken seats ("" or "3,17": booked ones)
 * It writes the window hash, each slot's hash, its free set (every seat 1..capacity not taken; the set is
 * replaced) and its ZSET member, and returns the number of slots. Keep batches to CALENDAR_LOAD_BATCH
 * slots. A slot of a closed window must be given state "closed" (a cancelled one stays "cancelled").
 */
extern const char calendar_load_lua[];
#define CALENDAR_LOAD_BATCH 500

/*
 * The rows a loader needs for one window, from PostgreSQL; $1 = window id. One row per slot, in start
 * order, 11 columns: office, procedure, window id, release (epoch ms), window state, then the slot's id,
 * start (epoch s), local, capacity, state as Redis wants it ("open", "closed" when its window is closed,
 * "cancelled"), taken seats ("" or "3,17": its appointments active or checked in).
 */
extern const char calendar_sql_load_window[];

/*
 * The loader script's arguments for rows [from, to) of that query's result (at most CALENDAR_LOAD_BATCH):
 * argv[0] = KEYS[1] (written into key), then the ARGV. argv must have room for 6 + 6 * (to - from)
 * pointers; they point into res and key. Returns the argument count (call with nkeys 1), or -1.
 */
int calendar_load_args(const PGresult *res, int from, int to, char key[96], const char **argv);

#endif
