/*
 * calendar: staff routes for calendar windows — open (with its slots, in one PostgreSQL transaction, then
 * loaded into Redis), preview (the slots it would create, nothing written), list (with seats taken, from
 * Redis) and close (PostgreSQL, then the window's and slots' state in Redis). Opening and closing are
 * audit records (window.create, window.close) in the same transaction, through audit_add() (sql/010).
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WINDOW_DAYS 180
#define MAX_EXCLUDED    366
#define STATE_BATCH     1000
#define LIST_MAX        100

#define WINDOW_JSON                                                                                          \
    "json_build_object('id', w.id, 'office', w.office_code, 'procedure', w.procedure_code,"                  \
    " 'first_day', w.first_day, 'last_day', w.last_day, 'slot_minutes', w.slot_minutes,"                     \
    " 'seats_per_slot', w.seats_per_slot, 'excluded_days', w.excluded_days,"                                 \
    " 'release_at', calendar_iso(w.release_at, o.time_zone), 'state', w.state,"                              \
    " 'created_at', calendar_iso(w.created_at, o.time_zone))::text"

static const char sql_open[] =
    "SELECT window_id, nslots FROM calendar_open_window($1, $2, $3::date, $4::date, $5::integer, $6::integer,"
    " $7::date[], $8::timestamptz, $9::bigint)";
static const char sql_new_window[] =
    "SELECT " WINDOW_JSON " FROM calendar_windows w JOIN offices o ON"
    " o.code = w.office_code WHERE w.id = currval('calendar_windows_id_seq')";
/* the acting account's role is looked up by audit_add() (role NULL) */
static const char sql_audit_open[] =
    "SELECT audit_add($1::bigint, NULL, 'window.create', 'window:' || w.id, jsonb_build_object('office',"
    " w.office_code, 'window', w.id, 'procedure', w.procedure_code, 'first_day', w.first_day, 'last_day',"
    " w.last_day, 'slot_minutes', w.slot_minutes, 'seats_per_slot', w.seats_per_slot, 'release_at',"
    " w.release_at, 'excluded_days', w.excluded_days, 'slots', (SELECT count(*) FROM slots s WHERE"
    " s.window_id = w.id)), nullif($2, '')::inet) FROM calendar_windows w WHERE w.id = "
    "currval('calendar_windows_id_seq')";
static const char sql_preview[] =
    "SELECT calendar_iso(g.starts_at, c.tz), to_char(g.local_start, 'YYYY-MM-DD\"T\"HH24:MI')"
    " FROM calendar_check_window($1, $2, $3::date) AS c (tz),"
    " calendar_generate_slots($1, $3::date, $4::date, $5::integer, $6::date[]) AS g ORDER BY g.local_start";

/* Answers a failed PostgreSQL call: the calendar's own SQLSTATEs CA4xx are the client's fault. */
static void send_pg_error(h2o_req_t *req, const struct pg_reply *r)
{
    if (r->status == PG_ERR_QUERY && strncmp(r->sqlstate, "CA", 2) == 0) {
        int status = strcmp(r->sqlstate, "CA404") == 0 ? 404 : strcmp(r->sqlstate, "CA409") == 0 ? 409 : 422;
        server_send_problem(req, status,
                            status == 404   ? "Not found"
                            : status == 409 ? "Conflict"
                                            : "Unprocessable",
                            cal_pg_message(r));
        return;
    }
    server_send_problem(req, 503, "Service unavailable", "The database cannot be reached now; try again.");
}

/* --- parsing the window request --- */

struct window_input {
    char procedure[CAL_CODE_MAX + 1];
    char first[11], last[11];
    long first_day, last_day;
    int minutes, seats;
    char *excluded; /* PostgreSQL array literal "{2027-03-01,...}", in the request pool */
    char release[32];
    int64_t release_epoch;
};

static int get_int(const struct json_value *body, const char *key, int lo, int hi, int *out)
{
    const struct json_value *v = json_get(body, key);
    if (v == NULL || v->type != JSON_NUMBER || v->number != floor(v->number) || v->number < lo ||
        v->number > hi)
        return -1;
    *out = (int)v->number;
    return 0;
}

static int get_date(const struct json_value *body, const char *key, char out[11], long *days)
{
    size_t len;
    const char *s = json_get_str(body, key, &len);
    if (s == NULL || (*days = cal_parse_date(s, len)) < 0)
        return -1;
    memcpy(out, s, 11);
    return 0;
}

/* Parses and checks the body; on failure answers 400/422 and returns -1. */
static int parse_window(h2o_req_t *req, struct window_input *in)
{
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return -1;
    static const char *const known[] = {"procedure",      "first_day",     "last_day",  "slot_minutes",
                                        "seats_per_slot", "excluded_days", "release_at"};
    for (size_t i = 0; i < body->len; i++) {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(body->keys[i], known[k]) != 0)
            k++;
        if (k == sizeof(known) / sizeof(known[0])) {
            server_send_problem(req, 400, "Bad request", "Unknown member in the window request.");
            return -1;
        }
    }
    size_t len;
    const char *proc = json_get_str(body, "procedure", &len);
    if (proc == NULL || !cal_procedure_valid(proc, len)) {
        server_send_problem(req, 400, "Bad request", "procedure must be a procedure code.");
        return -1;
    }
    memcpy(in->procedure, proc, len + 1);
    if (get_date(body, "first_day", in->first, &in->first_day) != 0 ||
        get_date(body, "last_day", in->last, &in->last_day) != 0) {
        server_send_problem(req, 400, "Bad request", "first_day and last_day must be dates, YYYY-MM-DD.");
        return -1;
    }
    if (in->last_day < in->first_day) {
        server_send_problem(req, 422, "Unprocessable", "last_day is before first_day.");
        return -1;
    }
    if (in->last_day - in->first_day >= MAX_WINDOW_DAYS) {
        server_send_problem(req, 422, "Unprocessable", "A window covers at most 180 days.");
        return -1;
    }
    if (get_int(body, "slot_minutes", 5, 240, &in->minutes) != 0) {
        server_send_problem(req, 400, "Bad request", "slot_minutes must be an integer from 5 to 240.");
        return -1;
    }
    if (get_int(body, "seats_per_slot", 1, 100, &in->seats) != 0) {
        server_send_problem(req, 400, "Bad request", "seats_per_slot must be an integer from 1 to 100.");
        return -1;
    }
    const struct json_value *ex = json_get(body, "excluded_days");
    size_t nex = 0;
    if (ex != NULL && ex->type != JSON_NULL) {
        if (ex->type != JSON_ARRAY || ex->len > MAX_EXCLUDED) {
            server_send_problem(req, 400, "Bad request", "excluded_days must be a list of dates.");
            return -1;
        }
        nex = ex->len;
    }
    in->excluded = h2o_mem_alloc_pool(&req->pool, 3 + nex * 11);
    size_t n = 0;
    in->excluded[n++] = '{';
    for (size_t i = 0; i < nex; i++) {
        const struct json_value *d = ex->items[i];
        if (d->type != JSON_STRING || cal_parse_date(d->str, d->len) < 0) {
            server_send_problem(req, 400, "Bad request",
                                "excluded_days must be a list of dates, YYYY-MM-DD.");
            return -1;
        }
        if (i > 0)
            in->excluded[n++] = ',';
        memcpy(in->excluded + n, d->str, 10);
        n += 10;
    }
    in->excluded[n++] = '}';
    in->excluded[n] = '\0';
    const char *rel = json_get_str(body, "release_at", &len);
    if (rel == NULL || len >= sizeof(in->release) || cal_parse_datetime(rel, &in->release_epoch) != 0) {
        server_send_problem(req, 400, "Bad request",
                            "release_at must be an ISO 8601 date and time with an offset, "
                            "e.g. 2027-03-01T09:00:00-06:00.");
        return -1;
    }
    memcpy(in->release, rel, len + 1);
    int64_t now = (int64_t)time(NULL);
    /* not absurd: at most a month ago, within a year, and before the window's last day ends anywhere */
    if (in->release_epoch < now - 31 * 86400 || in->release_epoch > now + 366 * 86400 ||
        in->release_epoch > (int64_t)(in->last_day + 1) * 86400 + 12 * 3600) {
        server_send_problem(
            req, 422, "Unprocessable",
            "release_at must lie between a month ago and a year from now, before the last day.");
        return -1;
    }
    return 0;
}

/* --- open a window (and preview) --- */

struct win_create {
    struct cal_worker *cw;
    char office[CAL_CODE_MAX + 1];
    int preview;
    struct window_input in;
    int64_t nslots;
    char *window_json; /* malloc'd */
    unsigned batches, failed;
};

static void finish_create(struct win_create *st)
{
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        struct json_buf b;
        json_buf_init(&b, &req->pool);
        json_open_object(&b, NULL);
        json_add_raw(&b, "window", st->window_json, strlen(st->window_json));
        json_add_int(&b, "slots", st->nslots);
        json_add_int(&b, "seats", st->nslots * st->in.seats);
        /* PostgreSQL is the truth: slots not loaded now are loaded by `citasctl rebuild-redis` */
        json_add_bool(&b, "loaded", st->failed == 0);
        json_close_object(&b);
        server_send_json(req, 201, b.base, b.len);
    }
    free(st->window_json);
    server_async_release(st);
}

static void on_loaded(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    (void)reply;
    struct win_create *st = ctx;
    if (err != NULL)
        st->failed++;
    if (--st->batches == 0)
        finish_create(st);
}

/* Loads the loader query's rows into Redis, one script call per batch; returns the calls issued. */
static unsigned load_rows(struct cal_worker *cw, const PGresult *res, redis_reply_cb cb, void *ctx)
{
    unsigned calls = 0;
    int n = PQntuples(res);
    const char **argv = malloc(sizeof(*argv) * (6 + 6 * CALENDAR_LOAD_BATCH));
    if (argv == NULL)
        return 0;
    char key[96];
    for (int from = 0; from < n; from += CALENDAR_LOAD_BATCH) {
        int to = from + CALENDAR_LOAD_BATCH < n ? from + CALENDAR_LOAD_BATCH : n;
        int argc = calendar_load_args(res, from, to, key, argv);
        if (argc < 0 || redis_evalsha(cw->redis, cw->load, 1, argc, argv, NULL, cb, ctx) != 0)
            break;
        calls++;
    }
    free(argv);
    return calls;
}

static void on_opened(const struct pg_reply *r, void *ctx)
{
    struct win_create *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (r->status != PG_OK || r->nresults != 4 || PQntuples(r->results[0]) != 1 ||
        PQntuples(r->results[1]) != 1) {
        if (req != NULL)
            send_pg_error(req, r);
        server_async_release(st);
        return;
    }
    st->nslots = strtoll(PQgetvalue(r->results[0], 0, 1), NULL, 10);
    st->window_json = strdup(PQgetvalue(r->results[1], 0, 0));
    if (st->window_json == NULL) {
        if (req != NULL)
            server_send_problem(req, 503, "Service unavailable", "Out of memory.");
        server_async_release(st);
        return;
    }
    /* the window is committed: load it even if the client has gone */
    const PGresult *rows = r->results[2];
    unsigned expected = (unsigned)((PQntuples(rows) + CALENDAR_LOAD_BATCH - 1) / CALENDAR_LOAD_BATCH);
    st->batches = load_rows(st->cw, rows, on_loaded, st);
    st->failed = expected - st->batches;
    if (st->batches == 0)
        finish_create(st);
}

static void on_previewed(const struct pg_reply *r, void *ctx)
{
    struct win_create *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    if (r->status != PG_OK || r->nresults != 1) {
        send_pg_error(req, r);
        server_async_release(st);
        return;
    }
    const PGresult *res = r->results[0];
    int n = PQntuples(res);
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_add_str(&b, "office", st->office);
    json_add_str(&b, "procedure", st->in.procedure);
    json_add_str(&b, "first_day", st->in.first);
    json_add_str(&b, "last_day", st->in.last);
    json_add_int(&b, "slot_minutes", st->in.minutes);
    json_add_int(&b, "seats_per_slot", st->in.seats);
    json_add_str(&b, "release_at", st->in.release);
    json_add_int(&b, "slots", n);
    json_add_int(&b, "seats", (long long)n * st->in.seats);
    json_open_array(&b, "days");
    const char *day = NULL;
    for (int i = 0; i < n; i++) {
        const char *local = PQgetvalue(res, i, 1);
        if (day == NULL || strncmp(day, local, 10) != 0) {
            if (day != NULL) {
                json_close_array(&b);
                json_close_object(&b);
            }
            day = local;
            json_open_object(&b, NULL);
            json_add_strn(&b, "date", local, 10);
            json_open_array(&b, "slots");
        }
        json_open_object(&b, NULL);
        json_add_str(&b, "start", PQgetvalue(res, i, 0));
        json_add_str(&b, "local", local);
        json_close_object(&b);
    }
    if (day != NULL) {
        json_close_array(&b);
        json_close_object(&b);
    }
    json_close_array(&b);
    json_close_object(&b);
    server_send_json(req, 200, b.base, b.len);
    server_async_release(st);
}

static void on_staff_create(h2o_req_t *req, int64_t account_id, void *ctx)
{
    struct win_create *st = ctx;
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    if (parse_window(req, &st->in) != 0) {
        server_async_release(st);
        return;
    }
    struct cal_worker *cw = cal_worker_of(req);
    char minutes[16], seats[16], by[24], ip[64];
    snprintf(minutes, sizeof(minutes), "%d", st->in.minutes);
    snprintf(seats, sizeof(seats), "%d", st->in.seats);
    snprintf(by, sizeof(by), "%lld", (long long)account_id);
    int rc;
    if (st->preview) {
        const char *v[] = {st->office, st->in.procedure, st->in.first, st->in.last, minutes, st->in.excluded};
        rc = pg_query(cw->pg, sql_preview, 6, v, on_previewed, st);
    } else {
        const char *v[] = {st->office,      st->in.procedure, st->in.first,
                           st->in.last,     minutes,          seats,
                           st->in.excluded, st->in.release,   account_id > 0 ? by : NULL};
        const char *va[] = {account_id > 0 ? by : NULL, server_client_ip(req, ip)};
        struct pg_tx *tx = pg_tx_begin(cw->pg);
        rc = tx == NULL ? -ENOMEM : 0;
        if (rc == 0) {
            pg_tx_add(tx, sql_open, 9, v);
            pg_tx_add(tx, sql_new_window, 0, NULL);
            pg_tx_add(tx, cal_sql_load_new_window, 0, NULL);
            pg_tx_add(tx, sql_audit_open, 2, va);
            pg_tx_set_timeout(tx, 30000);
            rc = pg_tx_commit(tx, on_opened, st);
        }
    }
    if (rc != 0) {
        server_send_problem(req, 503, "Service unavailable",
                            "The database cannot be reached now; try again.");
        server_async_release(st);
    }
}

static void start_create(h2o_req_t *req, const struct server_params *p, int preview)
{
    if (cal_worker_of(req) == NULL || !cal_code_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no such office.");
        return;
    }
    struct win_create *st = server_async_alloc(req, sizeof(*st));
    st->cw = cal_worker_of(req);
    memcpy(st->office, p->v[0].base, p->v[0].len);
    size_t len;
    const char *q = server_query(req, "preview", &len);
    st->preview = preview || (q != NULL && len == 1 && q[0] == '1');
    cal_require_staff(req, st->office, on_staff_create, st);
}

void calendar_on_window_create(h2o_req_t *req, const struct server_params *p)
{
    start_create(req, p, 0);
}

void calendar_on_window_preview(h2o_req_t *req, const struct server_params *p)
{
    start_create(req, p, 1);
}

/* --- list --- */

static const char sql_list[] = "SELECT " WINDOW_JSON ", w.procedure_code, count(s.id),"
                               " coalesce(sum(s.capacity) FILTER (WHERE s.state = 'open'), 0),"
                               " coalesce(min(extract(epoch FROM s.starts_at))::bigint, 0),"
                               " coalesce(max(extract(epoch FROM s.starts_at))::bigint, 0), w.id"
                               " FROM calendar_windows w JOIN offices o ON o.code = w.office_code"
                               " LEFT JOIN slots s ON s.window_id = w.id WHERE w.office_code = $1"
                               " GROUP BY w.id, o.time_zone ORDER BY w.first_day DESC, w.id DESC LIMIT 100";

struct win_item {
    struct win_list *owner;
    char *json;
    int64_t slots, seats, booked;
    int ok;
};

struct win_list {
    char office[CAL_CODE_MAX + 1];
    struct win_item *items;
    size_t n;
    unsigned pending;
};

static void finish_list(struct win_list *st)
{
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        struct json_buf b;
        json_buf_init(&b, &req->pool);
        json_open_object(&b, NULL);
        json_add_str(&b, "office", st->office);
        json_open_array(&b, "windows");
        for (size_t i = 0; i < st->n; i++) {
            struct win_item *it = &st->items[i];
            json_open_object(&b, NULL);
            json_add_raw(&b, "window", it->json, strlen(it->json));
            json_add_int(&b, "slots", it->slots);
            json_add_int(&b, "seats", it->seats);
            if (it->ok) {
                json_add_int(&b, "booked", it->booked); /* booked or held now, from Redis */
                json_add_int(&b, "free", it->seats - it->booked);
            } else {
                json_add_null(&b, "booked");
                json_add_null(&b, "free");
            }
            json_close_object(&b);
        }
        json_close_array(&b);
        json_close_object(&b);
        server_send_json(req, 200, b.base, b.len);
    }
    for (size_t i = 0; i < st->n; i++)
        free(st->items[i].json);
    free(st->items);
    server_async_release(st);
}

static void on_booked(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct win_item *it = ctx;
    if (err == NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        cal_reply_int(reply->element[1]) > 0) {
        it->booked = cal_reply_int(reply->element[0]);
        it->ok = 1;
    }
    struct win_list *st = it->owner;
    if (--st->pending == 0)
        finish_list(st);
}

static void on_listed(const struct pg_reply *r, void *ctx)
{
    struct win_list *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL || r->status != PG_OK || r->nresults != 1) {
        if (req != NULL)
            send_pg_error(req, r);
        server_async_release(st);
        return;
    }
    const PGresult *res = r->results[0];
    size_t n = (size_t)PQntuples(res);
    st->items = calloc(n > 0 ? n : 1, sizeof(*st->items));
    if (st->items == NULL) {
        server_send_problem(req, 503, "Service unavailable", "Out of memory.");
        server_async_release(st);
        return;
    }
    struct cal_worker *cw = cal_worker_of(req);
    st->pending = 1;
    for (size_t i = 0; i < n; i++) {
        struct win_item *it = &st->items[i];
        int row = (int)i;
        it->owner = st;
        it->json = strdup(PQgetvalue(res, row, 0));
        st->n = i + 1;
        if (it->json == NULL)
            break;
        it->slots = strtoll(PQgetvalue(res, row, 2), NULL, 10);
        it->seats = strtoll(PQgetvalue(res, row, 3), NULL, 10);
        if (it->slots == 0)
            continue;
        char key[96];
        snprintf(key, sizeof(key), "cal:{%s}:proc:%s", st->office, PQgetvalue(res, row, 1));
        const char *argv[] = {key, st->office, PQgetvalue(res, row, 6), PQgetvalue(res, row, 4),
                              PQgetvalue(res, row, 5)};
        if (redis_evalsha(cw->redis, cw->booked, 1, 5, argv, NULL, on_booked, it) == 0)
            st->pending++;
    }
    if (--st->pending == 0)
        finish_list(st);
}

static void on_staff_list(h2o_req_t *req, int64_t account_id, void *ctx)
{
    (void)account_id;
    struct win_list *st = ctx;
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    const char *v[] = {st->office};
    if (pg_query(cal_worker_of(req)->pg, sql_list, 1, v, on_listed, st) != 0) {
        server_send_problem(req, 503, "Service unavailable",
                            "The database cannot be reached now; try again.");
        server_async_release(st);
    }
}

void calendar_on_window_list(h2o_req_t *req, const struct server_params *p)
{
    if (cal_worker_of(req) == NULL || !cal_code_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no such office.");
        return;
    }
    struct win_list *st = server_async_alloc(req, sizeof(*st));
    memcpy(st->office, p->v[0].base, p->v[0].len);
    cal_require_staff(req, st->office, on_staff_list, st);
}

/* --- close --- */

/* the audit record only when a window was closed (joined, so it runs once per closed row) */
static const char sql_close[] =
    "WITH c AS (UPDATE calendar_windows SET state = 'closed' WHERE id = $1::bigint AND office_code = $2"
    " RETURNING id, procedure_code),"
    " au AS (SELECT audit_add($3::bigint, NULL, 'window.close', 'window:' || c.id, "
    "jsonb_build_object('office',"
    " $2::text, 'window', c.id, 'procedure', c.procedure_code), nullif($4, '')::inet) FROM c)"
    " SELECT c.id FROM c, au";
static const char sql_close_slots[] = "SELECT id FROM slots WHERE window_id = $1::bigint AND office_code = $2"
                                      " ORDER BY id";

struct win_close {
    char office[CAL_CODE_MAX + 1], id[24];
    int64_t nslots;
    unsigned pending, failed;
};

static void finish_close(struct win_close *st)
{
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (st->failed > 0) {
            server_send_problem(req, 503, "Service unavailable",
                                "The window is closed in the database but Redis could not be updated; "
                                "repeat the request.");
        } else {
            struct json_buf b;
            json_buf_init(&b, &req->pool);
            json_open_object(&b, NULL);
            json_add_int(&b, "id", strtoll(st->id, NULL, 10));
            json_add_str(&b, "state", "closed");
            json_add_int(&b, "slots", st->nslots);
            json_close_object(&b);
            server_send_json(req, 200, b.base, b.len);
        }
    }
    server_async_release(st);
}

static void on_state(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    (void)reply;
    struct win_close *st = ctx;
    if (err != NULL)
        st->failed++;
    if (--st->pending == 0)
        finish_close(st);
}

static void on_closed(const struct pg_reply *r, void *ctx)
{
    struct win_close *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    if (r->status != PG_OK || r->nresults != 2) {
        send_pg_error(req, r);
        server_async_release(st);
        return;
    }
    if (PQntuples(r->results[0]) != 1) {
        server_send_problem(req, 404, "Not found", "This office has no such window.");
        server_async_release(st);
        return;
    }
    struct cal_worker *cw = cal_worker_of(req);
    const PGresult *res = r->results[1];
    int n = PQntuples(res);
    st->nslots = n;
    const char **argv = malloc(sizeof(*argv) * (4 + STATE_BATCH));
    char key[96];
    snprintf(key, sizeof(key), "cal:{%s}:window:%s", st->office, st->id);
    st->pending = 1;
    for (int from = 0; argv != NULL && (from < n || from == 0); from += STATE_BATCH) {
        int argc = 0;
        argv[argc++] = key;
        argv[argc++] = st->office;
        argv[argc++] = "closed";
        argv[argc++] = st->id;
        for (int i = from; i < n && i < from + STATE_BATCH; i++)
            argv[argc++] = PQgetvalue(res, i, 0);
        if (redis_evalsha(cw->redis, cw->state, 1, argc, argv, NULL, on_state, st) == 0)
            st->pending++;
        else
            st->failed++;
        if (n == 0)
            break;
    }
    if (argv == NULL)
        st->failed++;
    free(argv);
    if (--st->pending == 0)
        finish_close(st);
}

static void on_staff_close(h2o_req_t *req, int64_t account_id, void *ctx)
{
    struct win_close *st = ctx;
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    struct pg_tx *tx = pg_tx_begin(cal_worker_of(req)->pg);
    char by[24], ip[64];
    snprintf(by, sizeof(by), "%lld", (long long)account_id);
    const char *v[] = {st->id, st->office, account_id > 0 ? by : NULL, server_client_ip(req, ip)};
    int rc = tx == NULL ? -ENOMEM : 0;
    if (rc == 0) {
        pg_tx_add(tx, sql_close, 4, v);
        pg_tx_add(tx, sql_close_slots, 2, v);
        rc = pg_tx_commit(tx, on_closed, st);
    }
    if (rc != 0) {
        server_send_problem(req, 503, "Service unavailable",
                            "The database cannot be reached now; try again.");
        server_async_release(st);
    }
}

void calendar_on_window_close(h2o_req_t *req, const struct server_params *p)
{
    if (cal_worker_of(req) == NULL || !cal_code_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no such office.");
        return;
    }
    const h2o_iovec_t *id = &p->v[1];
    int ok = id->len > 0 && id->len <= 18 && id->base[0] != '0';
    for (size_t i = 0; ok && i < id->len; i++)
        ok = id->base[i] >= '0' && id->base[i] <= '9';
    if (!ok) {
        server_send_problem(req, 404, "Not found", "This office has no such window.");
        return;
    }
    struct win_close *st = server_async_alloc(req, sizeof(*st));
    memcpy(st->office, p->v[0].base, p->v[0].len);
    memcpy(st->id, id->base, id->len);
    cal_require_staff(req, st->office, on_staff_close, st);
}
