/* calendar internals: the per-worker state (reference cache, availability cache, scripts) and helpers. */
#ifndef CITAS_CALENDAR_INTERNAL_H
#define CITAS_CALENDAR_INTERNAL_H

#include "citas/calendar.h"
#include "citas/json.h"
#include "citas/pg.h"
#include "citas/redis.h"
#include "citas/server.h"

#include <stdint.h>

#define CAL_CODE_MAX  32 /* office and procedure codes */
#define CAL_AVAIL_MAX 20000

/* Something waiting for a cache load or an availability fetch; embedded in a request's async state. */
struct cal_wait {
    struct cal_wait *next;
    void (*on_ready)(struct cal_wait *w);
};

/* One office of the reference cache. Every string is owned by the cache snapshot. */
struct cal_office {
    char *code, *country, *city_lc, *search_lc; /* filters: ISO country, lower-case city, text for ?q= */
    char *summary, *full, *procedures;          /* prebuilt JSON: list item, detail object, array */
    char *proc_codes;                           /* ",a,b,c," */
};

struct cal_ref {
    struct cal_office *offices;
    size_t n;
};

/* A slot of an availability answer, kept for calendar_free_days(). */
struct cal_free {
    int64_t id, start;
    char local[17]; /* "YYYY-MM-DDTHH:MM" */
    uint32_t free;  /* 0: sold out or not released yet */
};

struct cal_avail_entry {
    char key[128];
    uint64_t expires;       /* loop ms */
    uint64_t built;         /* loop ms of the answer */
    struct cal_free *slots; /* every future slot of the answer in start order (calendar_free_days()) */
    size_t nslots;
    int status; /* 0 while empty */
    char *body;
    size_t len;
    char *gz; /* body gzipped (NULL: too small to bother, or out of memory) */
    size_t gz_len;
    int fetching;
    struct cal_wait *waiters;
    struct cal_worker *cw;
};
#define CAL_AVAIL_SLOTS 512
/* The answer covering today last built per (office, procedure), for calendar_free_days(): its entry, and
 * the entry's key then (the entry may have been taken by another answer since). */
struct cal_latest {
    char key[128];
    struct cal_avail_entry *e;
};
#define CAL_LATEST_SLOTS 64

struct cal_worker {
    struct server_worker *w;
    struct redis_client *redis;
    struct pg_pool *pg;
    struct ring *ring;
    struct redis_script *load, *avail, *state, *booked, *unperson;
    uint64_t avail_ttl_ms, ref_ttl_ms;
    /* reference cache */
    struct cal_ref *ref;
    uint64_t ref_loaded_at, ref_tried_at;
    uint64_t ref_version, ref_loading_version; /* calendar_reference_version() of the snapshot / the load */
    int ref_loading;
    struct cal_wait *ref_waiters;
    struct cal_avail_entry avail_cache[CAL_AVAIL_SLOTS];
    struct cal_latest latest[CAL_LATEST_SLOTS];
    int stopping;
};

struct cal_worker *cal_worker_of(h2o_req_t *req);

/* Reference cache. cal_ref_ensure() calls w->on_ready (later, once) when a snapshot is loaded or the load
 * failed (cw->ref is NULL then); with `refresh_unknown` it refreshes first unless the last try is < 5 s
 * old. Returns 0 if the current snapshot can be used right away (nothing queued). */
int cal_ref_ensure(struct cal_worker *cw, struct cal_wait *w, int force_refresh);
const struct cal_office *cal_ref_office(const struct cal_worker *cw, const char *code);
int cal_office_offers(const struct cal_office *o, const char *procedure);
void cal_ref_free(struct cal_ref *r);

/* Sends a JSON body with Cache-Control: public, max-age=secs. */
void cal_send_cacheable(h2o_req_t *req, const char *json, size_t len, unsigned secs);
/* The same with a gzip copy of it (gz may be NULL): sent as Content-Encoding: gzip to a client whose
 * Accept-Encoding takes gzip, with Vary: Accept-Encoding either way. */
void cal_send_cacheable_gz(h2o_req_t *req, const char *json, size_t len, const char *gz, size_t gz_len,
                           unsigned secs);
/* compress.c: bodies from this size on get a gzip copy */
#define CAL_GZIP_MIN 1024
/* A gzip stream of in (malloc'd into *out). 0, -ENOMEM or -EIO. */
int cal_gzip(const char *in, size_t len, char **out, size_t *out_len);

/* Input checks. */
int cal_code_valid(const char *s, size_t len);      /* office: [A-Za-z0-9_-]{1,32} */
int cal_procedure_valid(const char *s, size_t len); /* [a-z0-9_]{1,32} */
/* "YYYY-MM-DD" → days since 1970-01-01; -1 for anything else (strict: real dates, years 1970..9999). */
long cal_parse_date(const char *s, size_t len);
void cal_format_date(long days, char out[11]);
/* ISO 8601 date-time with offset ("2027-03-01T09:00:00-06:00", "...Z", seconds optional) → epoch s. */
int cal_parse_datetime(const char *s, int64_t *out);
/* epoch seconds + an offset in seconds → "YYYY-MM-DDTHH:MM:SS+hh:mm" ("Z" when utc is set); 32 bytes. */
void cal_format_iso(int64_t epoch, int offset_s, int utc, char out[32]);
/* "YYYY-MM-DDTHH:MM" (a slot's local time) → seconds as if it were UTC; -1 if malformed. */
int64_t cal_parse_local(const char *s, size_t len);

/* The loader query for the window just inserted by the same transaction (see calendar_sql_load_window). */
extern const char cal_sql_load_new_window[];

/* Redis helpers: the script's reply as integers / strings. */
int64_t cal_reply_int(const redisReply *r);

/* Admin API helpers (settings.c, offices.c). */
/* The message of a failed statement (pg_error_message()), or a generic one. */
const char *cal_pg_message(const struct pg_reply *r);
/* Answers a failed admin write: CA404 → 404, CA409 and unique violations → 409, other CA4xx, check
 * violations and bad values → 422 with PostgreSQL's message; anything else 503. */
void cal_admin_pg_error(h2o_req_t *req, const struct pg_reply *r);
/* 1 if s[0..len) is UTF-8 text of min..max characters without control characters (and, when min > 0,
 * not only spaces). */
int cal_admin_text(const char *s, size_t len, size_t min_chars, size_t max_chars);
/* After a committed change of offices, procedures offered, hours or holidays: every worker's reference
 * snapshot (this module's and the pages') is reloaded at its next use. Any thread. */
void cal_ref_invalidate(void);

/* The staff check: calls next(req, session account id) once, or answers 401/403/503 itself. */
typedef void (*cal_staff_cb)(h2o_req_t *req, int64_t account_id, void *st);
void cal_require_staff(h2o_req_t *req, const char *office, cal_staff_cb next, void *st);

#endif
