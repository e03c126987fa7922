/*
 * Recovery: every Redis key of the booking contract recomputed from PostgreSQL, office by office (see
 * booking_rebuild() in booking.h). For each office three reads (windows, slots with their booked seats,
 * active appointments), then the Redis writes pipelined: the window hashes, one rebuild script per slot and
 * the person keys of active appointments.
 * Person keys of appointments that are no longer active are not swept here (a SCAN of the whole keyspace
 * per office would block Redis for long): a reservation that meets one asks PostgreSQL and deletes it
 * (create.c, step "already"), so a stale key costs one query to its owner and nothing to anyone else.
 */
#include "internal.h"

#include "rebuild_lua.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rb {
    struct pg_pool *pg;
    struct redis_client *redis;
    struct redis_script *rebuild;
    booking_rebuild_cb cb;
    void *ctx;
    char *only;
    char **offices;
    size_t noffices, cur;
    struct booking_rebuild_stats st;
    int pg_pending, redis_pending, failed;
    char err[240];
    PGresult *windows, *slots, *persons;
};

static void rb_next_office(struct rb *b);

static void rb_finish(struct rb *b)
{
    struct booking_rebuild_stats st = b->st;
    char err[240];
    snprintf(err, sizeof(err), "%s", b->err);
    int failed = b->failed;
    booking_rebuild_cb cb = b->cb;
    void *ctx = b->ctx;
    for (size_t i = 0; i < b->noffices; i++)
        free(b->offices[i]);
    free(b->offices);
    free(b->only);
    PQclear(b->windows);
    PQclear(b->slots);
    PQclear(b->persons);
    redis_script_free(b->rebuild);
    free(b);
    cb(failed ? err : NULL, &st, ctx);
}

static void rb_fail(struct rb *b, const char *what, const char *why)
{
    if (!b->failed)
        snprintf(b->err, sizeof(b->err), "%s: %s", what, why != NULL ? why : "failed");
    b->failed = 1;
}

static void on_redis(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct rb *b = ctx;
    if (err != NULL)
        rb_fail(b, "Redis", err);
    else if (reply->type == REDIS_REPLY_ERROR)
        rb_fail(b, "Redis", reply->str);
    if (--b->redis_pending == 0) {
        if (b->failed)
            rb_finish(b);
        else
            rb_next_office(b);
    }
}

static void on_slot_rebuilt(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    struct rb *b = ctx;
    if (err == NULL && reply->type == REDIS_REPLY_INTEGER)
        b->st.free_seats += (uint64_t)reply->integer;
    on_redis(c, reply, err, ctx);
}

static int rb_cmd(struct rb *b, int argc, const char **argv)
{
    if (redis_command(b->redis, on_redis, b, argc, argv, NULL) != 0) {
        rb_fail(b, "Redis", "not connected");
        return -1;
    }
    b->redis_pending++;
    return 0;
}

/* All three reads are in: write this office's keys. */
static void rb_write(struct rb *b)
{
    const char *office = b->offices[b->cur];
    char holds[BK_KEY_MAX], key[BK_KEY_MAX], k2[BK_KEY_MAX], k4[BK_KEY_MAX];
    bk_key_holds(holds, office);
    b->redis_pending = 1; /* held by this function until every command is queued */
    for (int i = 0; i < PQntuples(b->windows) && !b->failed; i++) {
        snprintf(key, sizeof(key), "cal:{%s}:window:%s", office, PQgetvalue(b->windows, i, 0));
        const char *del[] = {"DEL", key};
        const char *hs[] = {"HSET",      key,
                            "procedure", PQgetvalue(b->windows, i, 1),
                            "release",   PQgetvalue(b->windows, i, 2),
                            "state",     PQgetvalue(b->windows, i, 3)};
        if (rb_cmd(b, 2, del) == 0 && rb_cmd(b, 8, hs) == 0)
            b->st.windows++;
    }
    for (int i = 0; i < PQntuples(b->slots) && !b->failed; i++) {
        const PGresult *r = b->slots;
        int64_t id = 0;
        const char *ids = PQgetvalue(r, i, 0);
        bk_parse_i64(ids, strlen(ids), &id);
        bk_key_slot(key, office, id);
        bk_key_free(k2, office, id);
        bk_key_proc(k4, office, PQgetvalue(r, i, 1));
        const char *argv[] = {key,
                              k2,
                              holds,
                              k4,
                              ids,
                              office,
                              PQgetvalue(r, i, 1),
                              PQgetvalue(r, i, 2),
                              PQgetvalue(r, i, 3),
                              PQgetvalue(r, i, 4),
                              PQgetvalue(r, i, 5),
                              PQgetvalue(r, i, 6),
                              PQgetvalue(r, i, 7),
                              PQgetvalue(r, i, 8)};
        if (redis_evalsha(b->redis, b->rebuild, 4, 14, argv, NULL, on_slot_rebuilt, b) != 0) {
            rb_fail(b, "Redis", "not connected");
            break;
        }
        b->redis_pending++;
        b->st.slots++;
    }
    for (int i = 0; i < PQntuples(b->persons) && !b->failed; i++) {
        char hash[65];
        booking_doc_hash(PQgetvalue(b->persons, i, 0), PQgetvalue(b->persons, i, 1), hash);
        bk_key_person(key, office, hash, PQgetvalue(b->persons, i, 2));
        const char *set[] = {"SET", key, PQgetvalue(b->persons, i, 3)};
        if (rb_cmd(b, 3, set) == 0)
            b->st.persons++;
    }
    b->st.offices++;
    b->cur++;
    PQclear(b->windows);
    PQclear(b->slots);
    PQclear(b->persons);
    b->windows = b->slots = b->persons = NULL;
    /* release this function's hold on the count: the last reply moves on */
    if (--b->redis_pending == 0) {
        if (b->failed)
            rb_finish(b);
        else
            rb_next_office(b);
    }
}

static void on_read(const struct pg_reply *r, void *ctx, PGresult **slot)
{
    struct rb *b = ctx;
    if (r->status != PG_OK)
        rb_fail(b, "PostgreSQL", r->message[0] ? r->message : pg_status_str(r->status));
    else if ((*slot = PQcopyResult(r->results[0], PG_COPYRES_ATTRS | PG_COPYRES_TUPLES)) == NULL)
        rb_fail(b, "PostgreSQL", "out of memory");
    if (--b->pg_pending > 0)
        return;
    if (b->failed)
        rb_finish(b);
    else
        rb_write(b);
}
static void on_windows(const struct pg_reply *r, void *ctx)
{
    on_read(r, ctx, &((struct rb *)ctx)->windows);
}
static void on_slots(const struct pg_reply *r, void *ctx)
{
    on_read(r, ctx, &((struct rb *)ctx)->slots);
}
static void on_persons(const struct pg_reply *r, void *ctx)
{
    on_read(r, ctx, &((struct rb *)ctx)->persons);
}

static const char sql_windows[] =
    "SELECT id, procedure_code, (extract(epoch FROM release_at) * 1000)::bigint, state FROM calendar_windows "
    "WHERE office_code = $1 AND last_day >= current_date - 1";
static const char sql_slots[] =
    "SELECT s.id, s.procedure_code, s.window_id, extract(epoch FROM s.starts_at)::bigint, "
    "to_char(s.local_start, 'YYYY-MM-DD\"T\"HH24:MI'), s.capacity, "
    "(extract(epoch FROM w.release_at) * 1000)::bigint, "
    "CASE WHEN s.state = 'cancelled' THEN 'cancelled' WHEN w.state = 'closed' THEN 'closed' ELSE 'open' END, "
    "coalesce((SELECT string_agg(a.seat::text, ',') FROM appointments a "
    "WHERE a.slot_id = s.id AND a.state IN ('active', 'checked_in')), '') "
    "FROM slots s JOIN calendar_windows w ON w.id = s.window_id "
    "WHERE s.office_code = $1 AND w.last_day >= current_date - 1 ORDER BY s.id";
/* through the office's slots (index slots_office_local, then appointments_slot): filtering appointments by
 * office_code scanned the whole table once per office (19 ms an office at 185,000 appointments, 0.2 ms so) */
static const char sql_persons[] =
    "SELECT a.document_type, a.document_number, a.procedure_code, a.code FROM slots s "
    "JOIN appointments a ON a.slot_id = s.id AND a.state = 'active' WHERE s.office_code = $1";

static void rb_next_office(struct rb *b)
{
    if (b->failed || b->cur >= b->noffices) {
        rb_finish(b);
        return;
    }
    const char *v[] = {b->offices[b->cur]};
    b->pg_pending = 0;
    if (pg_query(b->pg, sql_windows, 1, v, on_windows, b) == 0)
        b->pg_pending++;
    else
        rb_fail(b, "PostgreSQL", "queue full");
    if (pg_query(b->pg, sql_slots, 1, v, on_slots, b) == 0)
        b->pg_pending++;
    else
        rb_fail(b, "PostgreSQL", "queue full");
    if (pg_query(b->pg, sql_persons, 1, v, on_persons, b) == 0)
        b->pg_pending++;
    else
        rb_fail(b, "PostgreSQL", "queue full");
    if (b->pg_pending == 0)
        rb_finish(b); /* cannot run from inside booking_rebuild(): the office list came from a callback */
}

static void on_offices(const struct pg_reply *r, void *ctx)
{
    struct rb *b = ctx;
    if (r->status != PG_OK) {
        rb_fail(b, "PostgreSQL", r->message[0] ? r->message : pg_status_str(r->status));
        rb_finish(b);
        return;
    }
    int n = PQntuples(r->results[0]);
    if (n == 0 && b->only != NULL) {
        rb_fail(b, "office", "no such office");
        rb_finish(b);
        return;
    }
    b->offices = calloc((size_t)n + 1, sizeof(char *));
    if (b->offices == NULL) {
        rb_fail(b, "rebuild", "out of memory");
        rb_finish(b);
        return;
    }
    for (int i = 0; i < n; i++) {
        b->offices[i] = strdup(PQgetvalue(r->results[0], i, 0));
        if (b->offices[i] == NULL) {
            rb_fail(b, "rebuild", "out of memory");
            rb_finish(b);
            return;
        }
        b->noffices++;
    }
    b->cur = 0;
    rb_next_office(b);
}

int booking_rebuild(struct pg_pool *pg, struct redis_client *redis, const char *office, booking_rebuild_cb cb,
                    void *ctx)
{
    struct rb *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->pg = pg;
    b->redis = redis;
    b->cb = cb;
    b->ctx = ctx;
    b->rebuild = redis_script_create(bk_rebuild_lua);
    b->only = office != NULL ? strdup(office) : NULL;
    if (b->rebuild == NULL || (office != NULL && b->only == NULL)) {
        redis_script_free(b->rebuild);
        free(b->only);
        free(b);
        return -ENOMEM;
    }
    const char *v[] = {b->only};
    int rc = pg_query(pg, "SELECT code FROM offices WHERE $1::text IS NULL OR code = $1 ORDER BY code", 1, v,
                      on_offices, b);
    if (rc != 0) {
        redis_script_free(b->rebuild);
        free(b->only);
        free(b);
        return rc;
    }
    return 0;
}
