/* Private to the booking module. */
#ifndef CITAS_BOOKING_INTERNAL_H
#define CITAS_BOOKING_INTERNAL_H

#include "citas/auth.h"
#include "citas/booking.h"
#include "citas/json.h"
#include "citas/pg.h"
#include "citas/redis.h"
#include "citas/ring.h"
#include "citas/server.h"

#include <stdatomic.h>
#include <stdint.h>

#define BK_OFFICE_MAX 32
#define BK_PROC_MAX   40
#define BK_KEY_MAX    192
/* a captcha claim key's value after POST /api/v1/captcha saw siteverify refuse the response (reserve.lua) */
#define BK_CAPTCHA_REFUSED "x"

/* --- caches (cache.c) --- */

/* An account's booking-relevant fields (from Redis bk:acct:<id>, filled from PostgreSQL on a miss). */
struct bk_account {
    int64_t id;
    char email[256];
    char lang[3];
    char name[201];
    char doc_type[21];
    char doc_number[21];
    char doc_hash[65];
};

/* The names a confirmation shows, per office and procedure (a small per-worker cache). */
struct bk_info {
    char office[BK_OFFICE_MAX + 1], procedure[BK_PROC_MAX + 1];
    char office_name_es[160], office_name_en[160], address[300], time_zone[64];
    char proc_name_es[160], proc_name_en[160];
    int duration_min;
    uint64_t loaded_at;
};

/* rc: 0, -ENOENT (no such account / office-procedure pair / slot), -EIO (backend failure). */
typedef void (*bk_done_cb)(int rc, void *ctx);

struct bk_worker;
struct bk_slotmap;
struct bk_reconcile;
struct bk_attempt;

/* Process-wide counters for /metrics (module.c). */
struct bk_counters {
    atomic_ullong booked;      /* 201: appointments confirmed */
    atomic_ullong rescheduled; /* 200 on reschedule */
    atomic_ullong sold_out;    /* 409: no seat left in the slot */
    atomic_ullong
        refused; /* other 4xx answers of the booking path (closed, not open yet, already booked...) */
    atomic_ullong failed;         /* 5xx/503 answers after a backend failure */
    atomic_ullong released;       /* seats given back after a failure past the reservation */
    atomic_ullong group_commits;  /* group transactions committed (two bookings or more) */
    atomic_ullong group_bookings; /* bookings committed in them */
    atomic_ullong group_retried;  /* groups PostgreSQL refused: each booking then ran alone */
    atomic_ullong captcha_passes; /* attempts whose probe took a captcha pass (no siteverify) */
};
extern struct bk_counters bk_counters;

struct bk_worker {
    struct server_worker *w;
    struct ring *ring;
    struct redis_client *redis;
    struct pg_pool *pg;
    struct redis_script *reserve, *confirm, *release, *cancel, *unclaim;
    uint64_t hold_ttl_ms, next_dates, reconcile_delay_ms, account_cache_s, rebuild_on_start;
    uint64_t early_penalty_s, captcha_penalty_s; /* guard penalties of the booking route (0: off) */
    uint64_t captcha_pass_s;                     /* how long a captcha verified beforehand waits for use */
    uint64_t release_lottery_ms;                 /* attempts this soon after a release: random order */
    int stopping;
    /* start-up rebuild (worker 0 only) */
    struct ring_op rebuild_timer;
    int rebuild_timer_armed, rebuild_running, rebuild_done;
    /* worker 0: every BK_WATCH_MS, a Redis that lost the rebuild marker (restarted empty, flushed) is
     * rebuilt from PostgreSQL without waiting for an operator */
    struct ring_op watch_timer;
    int watch_timer_armed, watch_pending;
    struct bk_slotmap *slots;
    struct bk_info *info;
    size_t ninfo, info_cap;
    struct bk_reconcile *reconciles;
    /* new bookings waiting for the group transaction (create_group.c): committed at the end of the loop
     * turn, or group_ms after the first when set, or as soon as group_max wait */
    struct bk_attempt *group;
    unsigned ngroup;
    uint64_t group_max, group_ms;
    struct ring_defer group_defer;
    struct ring_op group_timer;
    int group_timer_armed;
};

struct bk_worker *bk_worker_of(h2o_req_t *req);

/* Fills *a (a->id set by the caller) from the Redis cache, or from PostgreSQL on a miss (cache_only: the miss
 * is -EAGAIN instead); cb(0 | -ENOENT | -EIO | -EAGAIN) runs later, once. a must live until then. */
int bk_account_load(struct bk_worker *bw, struct bk_account *a, int cache_only, bk_done_cb cb, void *ctx);
/* Forgets the cached account (after its document may have changed). */
void bk_account_forget(struct bk_worker *bw, int64_t id);

/* The office of a slot: writes it to office (BK_OFFICE_MAX + 1) and returns 1 when known now; -ENOENT when
 * known not to exist; -EIO on failure; else 0 and cb(0 | -ENOENT | -EIO) runs later, once (office written
 * before cb(0)). */
int bk_slot_office(struct bk_worker *bw, int64_t slot, char *office, bk_done_cb cb, void *ctx);
void bk_slot_remember(struct bk_worker *bw, int64_t slot, const char *office);
int bk_slotmap_create(struct bk_slotmap **out);
void bk_slotmap_free(struct bk_slotmap *m);

/* Copies the office/procedure names into *out: 1 when cached; a negative errno on failure; else 0 and
 * cb(0 | -ENOENT | -EIO) runs later, once. */
int bk_info_get(struct bk_worker *bw, const char *office, const char *procedure, struct bk_info *out,
                bk_done_cb cb, void *ctx);

/* --- keys and formatting (util.c) --- */
void bk_key_slot(char *out, const char *office, int64_t slot);
void bk_key_free(char *out, const char *office, int64_t slot);
void bk_key_proc(char *out, const char *office, const char *procedure);
void bk_key_holds(char *out, const char *office);
void bk_key_hold(char *out, const char *office, int64_t slot, int seat);
void bk_key_person(char *out, const char *office, const char *doc_hash, const char *procedure);
/* The claim key of a captcha response in the office's keys (guard_captcha_claim_key() with prefix
 * "bk:{OFF}:"), which the probe and POST /api/v1/captcha both use: 0, or a negative errno. */
int bk_key_captcha(char *out, const char *office, const char *response);
/* The value a captcha pass of this account holds in that key ("v:<account>", captcha_pass.c). */
#define BK_PASS_VALUE_MAX 32
void bk_captcha_pass_value(char out[BK_PASS_VALUE_MAX], int64_t account);
/* [A-Za-z0-9_-]{1,32} and [a-z0-9_]{1,40}. */
int bk_office_valid(const char *s, size_t len);
int bk_procedure_valid(const char *s, size_t len);
/* "2026-12-01T09:00:00-08:00" from the UTC start and the office-local "YYYY-MM-DDTHH:MM" (out: 32). */
int bk_iso_local(int64_t start, const char *local, char *out);
/* "2026-12-01T17:00:00Z" (out: 24). */
void bk_iso_utc(int64_t t, char *out);
/* The .ics of one appointment (allocated in pool; *len its length). */
char *bk_ics(h2o_mem_pool_t *pool, const char *code, int64_t start, int duration_min, const char *summary,
             const char *location, const char *description, size_t *len);
/* The appointment's JSON object (written into b at key, or as an array element with key NULL). */
struct bk_view {
    const char *code, *state, *office, *office_name, *procedure, *procedure_name, *local, *time_zone,
        *address;
    int64_t slot, start;
    int seat;
};
void bk_json_appointment(struct json_buf *b, const char *key, const struct bk_view *v);
/* problem+json with an extra raw member (e.g. "next":[...]). */
void bk_send_problem_extra(h2o_req_t *req, int status, const char *title, const char *detail,
                           const char *extra_key, const char *extra_json, size_t extra_len);
void bk_unavailable(h2o_req_t *req, const char *what);
/* 200 {"code": code, "state": state}: an appointment whose state a request changed. */
void bk_send_state(h2o_req_t *req, const char *code, const char *state);
/* 503 "The appointment database" on req, then server_async_release(st): a failed PostgreSQL step. */
void bk_db_failed(h2o_req_t *req, void *st);

/* --- staff routes (admin.c, staff_cancel.c) --- */
/* Who may use the staff routes; auth_require() checks the office. */
#define BK_STAFF_ROLES                                                                                       \
    (AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_STAFF) | AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_ADMIN) |                     \
     AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN))
/* The worker of a /admin/appointments/{code} request whose code has the right form; NULL after answering
 * 503 (no booking worker) or 404 (not an appointment code). The code is p->v[0] (BOOKING_CODE_LEN). */
struct bk_worker *bk_staff_code_route(h2o_req_t *req, const struct server_params *p);
int bk_parse_i64(const char *s, size_t len, int64_t *out);

/* --- reconciliation of attempts whose commit is uncertain (reconcile.c) --- */
struct bk_attempt_keys {
    char office[BK_OFFICE_MAX + 1];
    char code[BOOKING_CODE_LEN + 1];
    char person_key[BK_KEY_MAX];
    int64_t slot;
    int seat;
    int64_t old_slot; /* reschedule: the slot whose seat goes back when the new booking exists */
    int old_seat;
};
/* Asks PostgreSQL later whether the appointment exists, then confirms or releases it in Redis. */
void bk_reconcile_start(struct bk_worker *bw, const struct bk_attempt_keys *k);
void bk_reconcile_stop_all(struct bk_worker *bw);

/* Redis helpers shared by the scripts' callers (scripts.c). */
int bk_run_confirm(struct bk_worker *bw, const struct bk_attempt_keys *k, redis_reply_cb cb, void *ctx);
/* give_back: 1 the seat is free again; 0 PostgreSQL says it is taken (drop it from Redis). */
int bk_run_release(struct bk_worker *bw, const struct bk_attempt_keys *k, int give_back, redis_reply_cb cb,
                   void *ctx);
int bk_run_cancel(struct bk_worker *bw, const char *office, int64_t slot, int seat, const char *person_key,
                  const char *code, redis_reply_cb cb, void *ctx);
void bk_redis_ignore(struct redis_client *c, const redisReply *reply, const char *err, void *ctx);

#endif
