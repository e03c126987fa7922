/*
 * calendar: an office's settings for its staff console (sql/011_admin.sql).
 *   GET    /api/v1/admin/offices/{code}/settings          staff and admins of the office, sysadmin
 *   PUT    /api/v1/admin/offices/{code}/procedures        {"procedures":["passport_first",...]}
 *   PUT    /api/v1/admin/offices/{code}/hours             {"hours":[{"weekday","opens","closes"}...]}
 *   POST   /api/v1/admin/offices/{code}/holidays          {"day","name"} -> 201
 *   DELETE /api/v1/admin/offices/{code}/holidays/{day}    -> 204
 * Writes: consular_admin of the office (without an office: every office) and sysadmin. Each write is one
 * transaction: the change (raising CA404/CA409/CA422 when it cannot be made), its audit record and, for
 * the PUTs, the settings document read back. A committed write makes every worker's reference caches
 * (this module's and the pages') reload at their next use (cal_ref_invalidate()).
 */
#include "internal.h"

#include "citas/audit.h"
#include "citas/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROCEDURES 64
#define MAX_HOURS      50
#define HOLIDAY_NAME   200

#define READERS                                                                                              \
    (AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_STAFF) | AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_ADMIN) |                     \
     AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN))
#define WRITERS (AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_ADMIN) | AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN))

static const char sql_settings[] =
    "SELECT json_build_object("
    " 'office', json_build_object('code', o.code, 'kind', o.kind, 'name_es', o.name_es, 'name_en', o.name_en,"
    "   'city', o.city, 'country', o.country, 'time_zone', o.time_zone, 'address', o.address,"
    "   'phone', o.phone, 'email', o.email, 'active', o.active),"
    " 'procedures', (SELECT coalesce(json_agg(json_build_object('code', p.code, 'name_es', p.name_es,"
    "   'name_en', p.name_en, 'duration_min', p.duration_min, 'offered', EXISTS (SELECT 1 FROM"
    "   office_procedures op WHERE op.office_code = o.code AND op.procedure_code = p.code)) ORDER BY p.code),"
    "   '[]') FROM procedures p),"
    " 'hours', (SELECT coalesce(json_agg(json_build_object('weekday', h.weekday, 'opens',"
    "   to_char(h.opens, 'HH24:MI'), 'closes', to_char(h.closes, 'HH24:MI')) ORDER BY h.weekday, h.opens),"
    "   '[]') FROM office_hours h WHERE h.office_code = o.code),"
    " 'holidays', (SELECT coalesce(json_agg(json_build_object('day', x.day, 'name', x.name) ORDER BY x.day),"
    "   '[]') FROM office_holidays x WHERE x.office_code = o.code)"
    ")::text FROM offices o WHERE o.code = $1";
static const char sql_office_exists[] = "SELECT admin_require(EXISTS (SELECT 1 FROM offices WHERE code = "
                                        "$1), 'CA404', 'There is no such office.')";
static const char sql_procedures[] = "SELECT admin_set_office_procedures($1, $2::text[])";
static const char sql_hours[] = "SELECT admin_set_office_hours($1, $2::smallint[], $3::time[], $4::time[])";
static const char sql_holiday_add[] =
    "WITH i AS (INSERT INTO office_holidays (office_code, day, name) VALUES ($1, $2::date, $3)"
    " ON CONFLICT DO NOTHING RETURNING 1)"
    " SELECT admin_require(EXISTS (SELECT 1 FROM i), 'CA409', 'There is already a holiday on that day.')";
static const char sql_holiday_remove[] =
    "WITH d AS (DELETE FROM office_holidays WHERE office_code = $1 AND day = $2::date RETURNING 1)"
    " SELECT admin_require(EXISTS (SELECT 1 FROM d), 'CA404', 'The office has no holiday on that day.')";

enum op { OP_GET, OP_PROCEDURES, OP_HOURS, OP_HOLIDAY_ADD, OP_HOLIDAY_REMOVE };

struct settings_req {
    struct cal_worker *cw;
    enum op op;
    char office[CAL_CODE_MAX + 1];
    char day[11];
    const char *name; /* holiday added (in the request's pool) */
    char ip[64];
};

/* --- shared with offices.c --- */

const char *cal_pg_message(const struct pg_reply *r)
{
    const char *m = pg_error_message(r);
    return m != NULL ? m : "The database refused the request.";
}

void cal_admin_pg_error(h2o_req_t *req, const struct pg_reply *r)
{
    if (r->status == PG_ERR_QUERY) {
        const char *s = r->sqlstate;
        int status = strcmp(s, "CA404") == 0                               ? 404
                     : strcmp(s, "CA409") == 0 || strcmp(s, "23505") == 0  ? 409
                     : strncmp(s, "CA", 2) == 0 || strcmp(s, "23514") == 0 ? 422
                     : strncmp(s, "22", 2) == 0 || strcmp(s, "23502") == 0 ? 422
                                                                           : 0;
        if (status != 0) {
            server_send_problem(req, status,
                                status == 404   ? "Not found"
                                : status == 409 ? "Conflict"
                                                : "Unprocessable",
                                strcmp(s, "23505") == 0 ? "It exists already." : cal_pg_message(r));
            return;
        }
    }
    server_add_header(req, "retry-after", "2");
    server_send_problem(req, 503, "Service unavailable", "The database cannot be reached now; try again.");
}

int cal_admin_text(const char *s, size_t len, size_t min_chars, size_t max_chars)
{
    if (s == NULL || !json_utf8_valid(s, len))
        return 0;
    size_t chars = 0;
    int blank = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
        if ((c & 0xc0) != 0x80)
            chars++;
        if (c != ' ')
            blank = 0;
    }
    return chars >= min_chars && chars <= max_chars && (!blank || min_chars == 0);
}

/* --- answers --- */

static void finish(struct settings_req *st)
{
    server_async_release(st);
}

static void on_written(const struct pg_reply *r, void *ctx)
{
    struct settings_req *st = ctx;
    if (r->status == PG_OK)
        cal_ref_invalidate();
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        finish(st);
        return;
    }
    if (r->status != PG_OK) {
        cal_admin_pg_error(req, r);
    } else if (st->op == OP_HOLIDAY_REMOVE) {
        server_send(req, 204, "text/plain; charset=utf-8", "", 0);
    } else if (st->op == OP_HOLIDAY_ADD) {
        struct json_buf b;
        json_buf_init(&b, &req->pool);
        json_open_object(&b, NULL);
        json_add_str(&b, "office", st->office);
        json_add_str(&b, "day", st->day);
        json_add_str(&b, "name", st->name);
        json_close_object(&b);
        char loc[96];
        snprintf(loc, sizeof(loc), "/api/v1/admin/offices/%s/holidays/%s", st->office, st->day);
        server_add_header(req, "location", loc);
        server_send_json(req, 201, b.base, b.len);
    } else {
        const PGresult *doc = r->results[r->nresults - 1];
        server_send_json(req, 200, PQgetvalue(doc, 0, 0), strlen(PQgetvalue(doc, 0, 0)));
    }
    finish(st);
}

static void on_read(const struct pg_reply *r, void *ctx)
{
    struct settings_req *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        finish(st);
        return;
    }
    if (r->status != PG_OK)
        cal_admin_pg_error(req, r);
    else if (PQntuples(r->results[0]) != 1)
        server_send_problem(req, 404, "Not found", "There is no such office.");
    else
        server_send_json(req, 200, PQgetvalue(r->results[0], 0, 0), strlen(PQgetvalue(r->results[0], 0, 0)));
    finish(st);
}

/* --- parsing the writes (into SQL parameters in the request's pool) --- */

static int only_key(h2o_req_t *req, const struct json_value *body, const char *a, const char *b)
{
    for (size_t i = 0; i < body->len; i++) {
        if (strcmp(body->keys[i], a) != 0 && (b == NULL || strcmp(body->keys[i], b) != 0)) {
            char d[160];
            snprintf(d, sizeof(d), "Unknown field '%.60s'.", body->keys[i]);
            server_send_problem(req, 400, "Bad request", d);
            return -1;
        }
    }
    return 0;
}

/* {"procedures":[...]} into "{a,b}"; the JSON detail for the audit record into *detail. */
static int parse_procedures(h2o_req_t *req, const struct json_value *body, const char *office, char **arr,
                            char **detail)
{
    if (only_key(req, body, "procedures", NULL) != 0)
        return -1;
    const struct json_value *list = json_get(body, "procedures");
    if (list == NULL || list->type != JSON_ARRAY || list->len > MAX_PROCEDURES) {
        server_send_problem(req, 400, "Bad request", "procedures: a list of at most 64 procedure codes.");
        return -1;
    }
    char *out = h2o_mem_alloc_pool(&req->pool, 3 + list->len * (CAL_CODE_MAX + 1));
    size_t n = 0;
    out[n++] = '{';
    struct json_buf d;
    json_buf_init(&d, &req->pool);
    json_open_object(&d, NULL);
    json_add_str(&d, "office", office);
    json_open_array(&d, "procedures");
    for (size_t i = 0; i < list->len; i++) {
        const struct json_value *v = list->items[i];
        if (v->type != JSON_STRING || !cal_procedure_valid(v->str, v->len)) {
            server_send_problem(req, 422, "Unprocessable", "procedures: each item is a procedure code.");
            return -1;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(list->items[k]->str, v->str) == 0) {
                server_send_problem(req, 422, "Unprocessable", "procedures: a procedure is listed twice.");
                return -1;
            }
        }
        n += (size_t)sprintf(out + n, "%s%s", i > 0 ? "," : "", v->str);
        json_add_str(&d, NULL, v->str);
    }
    out[n++] = '}';
    out[n] = '\0';
    json_close_array(&d);
    json_close_object(&d);
    *arr = out;
    *detail = json_buf_str(&d);
    return 0;
}

/* "HH:MM" → minutes, or -1. */
static int parse_hhmm(const struct json_value *v)
{
    if (v == NULL || v->type != JSON_STRING || v->len != 5 || v->str[2] != ':')
        return -1;
    const char *s = v->str;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h <= 23 && m <= 59 ? h * 60 + m : -1;
}

struct interval {
    int weekday, opens, closes;
};

static int cmp_interval(const void *a, const void *b)
{
    const struct interval *x = a, *y = b;
    return x->weekday != y->weekday ? x->weekday - y->weekday : x->opens - y->opens;
}

static int parse_hours(h2o_req_t *req, const struct json_value *body, const char *office, const char *v[4],
                       char **detail)
{
    if (only_key(req, body, "hours", NULL) != 0)
        return -1;
    const struct json_value *list = json_get(body, "hours");
    if (list == NULL || list->type != JSON_ARRAY || list->len > MAX_HOURS) {
        server_send_problem(req, 400, "Bad request",
                            "hours: a list of at most 50 intervals {\"weekday\", \"opens\", \"closes\"}.");
        return -1;
    }
    struct interval *iv = h2o_mem_alloc_pool(&req->pool, (list->len + 1) * sizeof(*iv));
    for (size_t i = 0; i < list->len; i++) {
        const struct json_value *o = list->items[i], *wd = json_get(o, "weekday");
        char d[160];
        if (o->type != JSON_OBJECT || o->len != 3 || wd == NULL || wd->type != JSON_NUMBER) {
            snprintf(d, sizeof(d), "hours[%zu]: an object with exactly weekday, opens and closes.", i);
            server_send_problem(req, 422, "Unprocessable", d);
            return -1;
        }
        iv[i].opens = parse_hhmm(json_get(o, "opens"));
        iv[i].closes = parse_hhmm(json_get(o, "closes"));
        /* the range first: casting a huge number to int would be undefined */
        if (wd->number < 1 || wd->number > 7 || wd->number != (int)wd->number) {
            snprintf(d, sizeof(d), "hours[%zu].weekday: 1 (Monday) to 7 (Sunday).", i);
        } else if (iv[i].opens < 0 || iv[i].closes < 0) {
            snprintf(d, sizeof(d), "hours[%zu]: opens and closes are times HH:MM (00:00 to 23:59).", i);
        } else if (iv[i].opens >= iv[i].closes) {
            snprintf(d, sizeof(d), "hours[%zu]: opens must be before closes.", i);
        } else {
            iv[i].weekday = (int)wd->number;
            continue;
        }
        server_send_problem(req, 422, "Unprocessable", d);
        return -1;
    }
    qsort(iv, list->len, sizeof(*iv), cmp_interval);
    for (size_t i = 1; i < list->len; i++) {
        if (iv[i].weekday == iv[i - 1].weekday && iv[i].opens < iv[i - 1].closes) {
            char d[120];
            snprintf(d, sizeof(d), "hours: two intervals of weekday %d overlap.", iv[i].weekday);
            server_send_problem(req, 422, "Unprocessable", d);
            return -1;
        }
    }
    size_t cap = 3 + list->len * 8;
    char *wds = h2o_mem_alloc_pool(&req->pool, cap), *ops = h2o_mem_alloc_pool(&req->pool, cap),
         *cls = h2o_mem_alloc_pool(&req->pool, cap);
    size_t a = 0, b = 0, c = 0;
    wds[a++] = ops[b++] = cls[c++] = '{';
    for (size_t i = 0; i < list->len; i++) {
        const char *sep = i > 0 ? "," : "";
        a += (size_t)snprintf(wds + a, cap - a, "%s%d", sep, iv[i].weekday);
        b += (size_t)snprintf(ops + b, cap - b, "%s%02d:%02d", sep, iv[i].opens / 60, iv[i].opens % 60);
        c += (size_t)snprintf(cls + c, cap - c, "%s%02d:%02d", sep, iv[i].closes / 60, iv[i].closes % 60);
    }
    snprintf(wds + a, cap - a, "}");
    snprintf(ops + b, cap - b, "}");
    snprintf(cls + c, cap - c, "}");
    v[0] = office;
    v[1] = wds;
    v[2] = ops;
    v[3] = cls;
    struct json_buf d;
    json_buf_init(&d, &req->pool);
    json_open_object(&d, NULL);
    json_add_str(&d, "office", office);
    json_open_array(&d, "hours");
    for (size_t i = 0; i < list->len; i++) {
        char t[64];
        snprintf(t, sizeof(t), "%d %02d:%02d-%02d:%02d", iv[i].weekday, iv[i].opens / 60, iv[i].opens % 60,
                 iv[i].closes / 60, iv[i].closes % 60);
        json_add_str(&d, NULL, t);
    }
    json_close_array(&d);
    json_close_object(&d);
    *detail = json_buf_str(&d);
    return 0;
}

/* --- the session, then the work --- */

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct settings_req *st = ctx;
    if (req == NULL || s == NULL) {
        finish(st);
        return;
    }
    const char *office_v[] = {st->office};
    if (st->op == OP_GET) {
        if (pg_query(st->cw->pg, sql_settings, 1, office_v, on_read, st) != 0) {
            server_send_problem(req, 503, "Service unavailable", "The database cannot be reached now.");
            finish(st);
        }
        return;
    }
    const struct json_value *body = NULL;
    if (st->op != OP_HOLIDAY_REMOVE && (body = server_json_body(req)) == NULL) {
        finish(st);
        return;
    }
    struct json_buf d;
    json_buf_init(&d, &req->pool);
    const char *action = NULL, *sql = NULL, *v[4] = {st->office, NULL, NULL, NULL};
    char *detail = NULL;
    int nparams = 2;
    switch (st->op) {
    case OP_PROCEDURES: {
        char *arr;
        if (parse_procedures(req, body, st->office, &arr, &detail) != 0) {
            finish(st);
            return;
        }
        v[1] = arr;
        sql = sql_procedures;
        action = "office.settings.procedures";
        break;
    }
    case OP_HOURS:
        if (parse_hours(req, body, st->office, v, &detail) != 0) {
            finish(st);
            return;
        }
        sql = sql_hours;
        nparams = 4;
        action = "office.settings.hours";
        break;
    case OP_HOLIDAY_ADD: {
        size_t dlen = 0, nlen = 0;
        const char *day = json_get_str(body, "day", &dlen), *name = json_get_str(body, "name", &nlen);
        if (only_key(req, body, "day", "name") != 0) {
            finish(st);
            return;
        }
        if (day == NULL || cal_parse_date(day, dlen) < 0) {
            server_send_problem(req, 422, "Unprocessable", "day: a date, YYYY-MM-DD.");
            finish(st);
            return;
        }
        if (!cal_admin_text(name, nlen, 1, HOLIDAY_NAME)) {
            server_send_problem(req, 422, "Unprocessable",
                                "name: 1 to 200 characters of text without control characters.");
            finish(st);
            return;
        }
        memcpy(st->day, day, 10);
        st->name = name;
        v[1] = st->day;
        v[2] = name;
        nparams = 3;
        sql = sql_holiday_add;
        action = "office.holiday.add";
        json_open_object(&d, NULL);
        json_add_str(&d, "office", st->office);
        json_add_str(&d, "day", st->day);
        json_add_str(&d, "name", name);
        json_close_object(&d);
        detail = json_buf_str(&d);
        break;
    }
    default:
        v[1] = st->day;
        sql = sql_holiday_remove;
        action = "office.holiday.remove";
        json_open_object(&d, NULL);
        json_add_str(&d, "office", st->office);
        json_add_str(&d, "day", st->day);
        json_close_object(&d);
        detail = json_buf_str(&d);
        break;
    }
    char subject[64];
    snprintf(subject, sizeof(subject), "office:%s", st->office);
    struct audit_event ev = {.actor_account = s->account_id,
                             .actor_role = auth_role_name(s->role),
                             .action = action,
                             .subject = subject,
                             .detail_json = detail,
                             .client_ip = st->ip[0] ? st->ip : NULL};
    struct pg_tx *tx = pg_tx_begin(st->cw->pg);
    int rc = tx == NULL ? -1 : 0;
    if (rc == 0 && st->op != OP_PROCEDURES && st->op != OP_HOURS)
        rc = pg_tx_add(tx, sql_office_exists, 1, office_v);
    if (rc == 0)
        rc = pg_tx_add(tx, sql, nparams, v);
    if (rc == 0)
        rc = audit_tx_add(tx, &ev);
    if (rc == 0 && (st->op == OP_PROCEDURES || st->op == OP_HOURS))
        rc = pg_tx_add(tx, sql_settings, 1, office_v);
    if (rc != 0) {
        pg_tx_abort(tx);
        server_send_problem(req, 503, "Service unavailable", "Out of memory.");
        finish(st);
        return;
    }
    if (pg_tx_commit(tx, on_written, st) != 0) {
        server_send_problem(req, 503, "Service unavailable", "The database cannot be reached now.");
        finish(st);
    }
}

static void start(h2o_req_t *req, const struct server_params *p, enum op op)
{
    struct cal_worker *cw = cal_worker_of(req);
    if (cw == NULL || !cal_code_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no such office.");
        return;
    }
    if (op == OP_HOLIDAY_REMOVE && cal_parse_date(p->v[1].base, p->v[1].len) < 0) {
        server_send_problem(req, 400, "Bad request", "The day must be a date, YYYY-MM-DD.");
        return;
    }
    struct settings_req *st = server_async_alloc(req, sizeof(*st));
    st->cw = cw;
    st->op = op;
    memcpy(st->office, p->v[0].base, p->v[0].len);
    if (op == OP_HOLIDAY_REMOVE)
        memcpy(st->day, p->v[1].base, 10);
    server_client_ip(req, st->ip);
    auth_require(req, op == OP_GET ? READERS : WRITERS, st->office, on_session, st);
}

void calendar_on_settings(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, OP_GET);
}

void calendar_on_settings_procedures(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, OP_PROCEDURES);
}

void calendar_on_settings_hours(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, OP_HOURS);
}

void calendar_on_holiday_add(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, OP_HOLIDAY_ADD);
}

void calendar_on_holiday_remove(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, OP_HOLIDAY_REMOVE);
}
