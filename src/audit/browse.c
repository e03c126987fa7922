/*
 * GET /api/v1/admin/audit: the chained audit log, newest first, for sysadmin (every record) and
 * consular_admin (records whose detail names their office; one without an office: records naming any
 * office). Filters: from/to (a date YYYY-MM-DD, UTC, `to` inclusive; or a date-time with an offset, `to`
 * exclusive), action (exact, or a prefix ending in '*'), actor (account id), subject (exact), office;
 * keyset pagination with before=<id> (next_before in the answer); limit 1..500 (50); format=csv.
 * Only chained records are shown (pending ones appear within a chain interval). Browsing is itself
 * recorded (audit.browse, the filters under "filters"), in the same transaction as the read.
 */
#include "citas/audit.h"
#include "citas/auth.h"
#include "citas/json.h"
#include "citas/server.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIMIT_DEFAULT 50
#define LIMIT_MAX     500
#define SUBJECT_MAX   200

struct browse {
    struct pg_pool *pg;
    char ip[64];
    int csv, limit;
    const char *v[9]; /* from, to, action, actor, subject, office, only_offices, before, limit + 1 */
    char limit1[16];
};

static const char sql_records[] =
    "SELECT l.id, to_char(l.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), l.actor_account,"
    " a.email, l.actor_role, l.action, l.subject, l.detail::text, host(l.client_ip)"
    " FROM audit_log l LEFT JOIN accounts a ON a.id = l.actor_account"
    " WHERE ($1::timestamptz IS NULL OR l.at >= $1::timestamptz)"
    " AND ($2::timestamptz IS NULL OR l.at < $2::timestamptz)"
    " AND ($3::text IS NULL OR l.action = $3 OR (right($3, 1) = '*' AND starts_with(l.action, left($3, -1))))"
    " AND ($4::bigint IS NULL OR l.actor_account = $4::bigint)"
    " AND ($5::text IS NULL OR l.subject = $5)"
    " AND ($6::text IS NULL OR l.detail ->> 'office' = $6)"
    " AND ($7::boolean IS NOT TRUE OR l.detail ? 'office')"
    " AND ($8::bigint IS NULL OR l.id < $8::bigint)"
    " ORDER BY l.id DESC LIMIT $9::integer";
static const char sql_head[] = "SELECT (SELECT coalesce(max(id), 0) FROM audit_log), h.upto_id,"
                               " to_char(h.signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                               " (SELECT count(*) FROM audit_pending)"
                               " FROM (SELECT 1) x LEFT JOIN LATERAL (SELECT upto_id, signed_at FROM "
                               "audit_heads ORDER BY id DESC LIMIT 1)"
                               " h ON true";

static int digits(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max || s[0] == '0')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int two(const char *s, int lo, int hi)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    int v = (s[0] - '0') * 10 + (s[1] - '0');
    return v >= lo && v <= hi ? v : -1;
}

static int date_ok(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int i = 0; i < 4; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    int y = atoi(s), m = two(s + 5, 1, 12), d = two(s + 8, 1, 31);
    if (s[4] != '-' || s[7] != '-' || y < 2000 || m < 0 || d < 0 || d > mdays[m - 1])
        return 0;
    return !(m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

/* 1: a date; 2: a date-time with seconds optional, fraction optional, and Z or ±hh:mm; 0: neither. */
static int time_kind(const char *s, size_t len)
{
    if (len < 10 || strlen(s) != len || !date_ok(s))
        return 0;
    if (len == 10)
        return 1;
    if (s[10] != 'T' || len < 17 || two(s + 11, 0, 23) < 0 || s[13] != ':' || two(s + 14, 0, 59) < 0)
        return 0;
    size_t i = 16;
    if (s[i] == ':') {
        if (i + 3 > len || two(s + i + 1, 0, 59) < 0)
            return 0;
        i += 3;
        if (i < len && s[i] == '.') {
            size_t f = ++i;
            while (i < len && s[i] >= '0' && s[i] <= '9')
                i++;
            if (i == f || i - f > 6)
                return 0;
        }
    }
    if (i + 1 == len && s[i] == 'Z')
        return 2;
    if (i + 6 == len && (s[i] == '+' || s[i] == '-') && two(s + i + 1, 0, 14) >= 0 && s[i + 3] == ':' &&
        two(s + i + 4, 0, 59) >= 0)
        return 2;
    return 0;
}

static void bad(h2o_req_t *req, const char *detail)
{
    server_send_problem(req, 400, "Bad request", detail);
}

static void unavailable(h2o_req_t *req)
{
    server_add_header(req, "retry-after", "2");
    server_send_problem(req, 503, "Service unavailable",
                        "The audit log cannot be read right now; try again.");
}

static void send_csv(h2o_req_t *req, const PGresult *res, int n)
{
    static const char *const cols[] = {"id",     "at",      "actor_account", "actor_email", "actor_role",
                                       "action", "subject", "detail",        "client_ip"};
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    for (int c = 0; c < 9; c++)
        server_csv_field(&b, cols[c], c == 8);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 9; c++)
            server_csv_field(&b, PQgetvalue(res, i, c), c == 8);
    server_add_header(req, "content-disposition", "attachment; filename=\"audit.csv\"");
    server_add_header(req, "cache-control", "no-store");
    server_send(req, 200, "text/csv; charset=utf-8", b.base != NULL ? b.base : "", b.len);
}

static void on_read(const struct pg_reply *r, void *ctx)
{
    struct browse *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    if (r->status != PG_OK || r->nresults != 3) {
        unavailable(req);
        server_async_release(st);
        return;
    }
    const PGresult *res = r->results[1], *head = r->results[2];
    int n = PQntuples(res), more = n > st->limit;
    if (more)
        n = st->limit;
    if (st->csv) {
        send_csv(req, res, n);
        server_async_release(st);
        return;
    }
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_open_array(&b, "records");
    for (int i = 0; i < n; i++) {
        json_open_object(&b, NULL);
        json_add_int(&b, "id", strtoll(PQgetvalue(res, i, 0), NULL, 10));
        json_add_str(&b, "at", PQgetvalue(res, i, 1));
        if (PQgetisnull(res, i, 2))
            json_add_null(&b, "actor_account");
        else
            json_add_int(&b, "actor_account", strtoll(PQgetvalue(res, i, 2), NULL, 10));
        json_add_str(&b, "actor_email", pg_text(res, i, 3));
        json_add_str(&b, "actor_role", PQgetvalue(res, i, 4));
        json_add_str(&b, "action", PQgetvalue(res, i, 5));
        json_add_str(&b, "subject", PQgetvalue(res, i, 6));
        json_add_raw(&b, "detail", PQgetvalue(res, i, 7), (size_t)PQgetlength(res, i, 7));
        json_add_str(&b, "client_ip", pg_text(res, i, 8));
        json_close_object(&b);
    }
    json_close_array(&b);
    if (more)
        json_add_int(&b, "next_before", strtoll(PQgetvalue(res, n - 1, 0), NULL, 10));
    else
        json_add_null(&b, "next_before");
    json_open_object(&b, "head");
    json_add_int(&b, "chained_upto", strtoll(PQgetvalue(head, 0, 0), NULL, 10));
    if (PQgetisnull(head, 0, 1))
        json_add_null(&b, "signed_upto");
    else
        json_add_int(&b, "signed_upto", strtoll(PQgetvalue(head, 0, 1), NULL, 10));
    json_add_str(&b, "signed_at", pg_text(head, 0, 2));
    json_add_int(&b, "pending", strtoll(PQgetvalue(head, 0, 3), NULL, 10));
    json_close_object(&b);
    json_close_object(&b);
    server_add_header(req, "cache-control", "no-store");
    server_send_json(req, 200, b.base, b.len);
    server_async_release(st);
}

/* The query parameters, checked and turned into the statement's values; answers 400 and returns -1. */
static int parse(h2o_req_t *req, struct browse *st)
{
    size_t lf = 0, lt = 0, la = 0, lac = 0, ls = 0, lo = 0, lb = 0, ll = 0, lfmt = 0;
    const char *from = server_query(req, "from", &lf), *to = server_query(req, "to", &lt),
               *action = server_query(req, "action", &la), *actor = server_query(req, "actor", &lac),
               *subject = server_query(req, "subject", &ls), *office = server_query(req, "office", &lo),
               *before = server_query(req, "before", &lb), *limit = server_query(req, "limit", &ll),
               *fmt = server_query(req, "format", &lfmt);
    int kf = from != NULL ? time_kind(from, lf) : -1, kt = to != NULL ? time_kind(to, lt) : -1;
    if (kf == 0 || kt == 0) {
        bad(req, "from and to are dates (YYYY-MM-DD) or date-times with an offset "
                 "(2026-11-23T10:00:00Z).");
        return -1;
    }
    if (action != NULL) {
        size_t k = 0;
        while (k < la && ((action[k] >= 'a' && action[k] <= 'z') || (action[k] >= '0' && action[k] <= '9') ||
                          action[k] == '_' || action[k] == '.'))
            k++;
        if (la == 0 || la > 64 || strlen(action) != la || !(k == la || (k + 1 == la && action[k] == '*'))) {
            bad(req, "action is an action name (booking.cancel) or a prefix ending in * (booking.*).");
            return -1;
        }
    }
    if (actor != NULL && !digits(actor, lac, 18)) {
        bad(req, "actor is an account id (a positive integer).");
        return -1;
    }
    if (subject != NULL &&
        (ls == 0 || ls > SUBJECT_MAX || strlen(subject) != ls || !json_utf8_valid(subject, ls))) {
        bad(req, "subject is UTF-8 text of 1 to 200 bytes.");
        return -1;
    }
    if (office != NULL && (strlen(office) != lo || !auth_office_code_valid(office, lo))) {
        bad(req, "office is not a valid office code.");
        return -1;
    }
    if (before != NULL && !digits(before, lb, 18)) {
        bad(req, "before is a record id (a positive integer).");
        return -1;
    }
    st->limit = LIMIT_DEFAULT;
    if (limit != NULL) {
        if (!digits(limit, ll, 3) || atoi(limit) > LIMIT_MAX) {
            bad(req, "limit is an integer from 1 to 500.");
            return -1;
        }
        st->limit = atoi(limit);
    }
    if (fmt != NULL && !(lfmt == 3 && memcmp(fmt, "csv", 3) == 0) &&
        !(lfmt == 4 && memcmp(fmt, "json", 4) == 0)) {
        bad(req, "format must be csv or json.");
        return -1;
    }
    st->csv = fmt != NULL && lfmt == 3;
    /* a date is its day's midnight UTC; a date `to` is inclusive: the end is the next day's midnight */
    if (kf == 1) {
        char *f = h2o_mem_alloc_pool(&req->pool, 24);
        snprintf(f, 24, "%.10s 00:00Z", from);
        from = f;
    }
    if (kt == 1) {
        struct tm tm = {.tm_year = atoi(to) - 1900, .tm_mon = atoi(to + 5) - 1, .tm_mday = atoi(to + 8) + 1};
        time_t next = timegm(&tm);
        char *t = h2o_mem_alloc_pool(&req->pool, 24);
        if (gmtime_r(&next, &tm) == NULL || strftime(t, 24, "%Y-%m-%d 00:00Z", &tm) == 0) {
            bad(req, "to is out of range.");
            return -1;
        }
        to = t;
    }
    st->v[0] = from;
    st->v[1] = to;
    st->v[2] = action;
    st->v[3] = actor;
    st->v[4] = subject;
    st->v[5] = office;
    st->v[7] = before;
    return 0;
}

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct browse *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    if (parse(req, st) != 0) {
        server_async_release(st);
        return;
    }
    if (s->role == AUTH_ROLE_CONSULAR_ADMIN) {
        if (s->office[0] != '\0') {
            if (st->v[5] != NULL && strcmp(st->v[5], s->office) != 0) {
                server_send_problem(req, 403, "Forbidden", "You may browse only the records of your office.");
                server_async_release(st);
                return;
            }
            st->v[5] = h2o_mem_alloc_pool(&req->pool, sizeof(s->office));
            memcpy((char *)st->v[5], s->office, sizeof(s->office));
        }
        st->v[6] = "true";
    }
    snprintf(st->limit1, sizeof(st->limit1), "%d", st->limit + 1);
    st->v[8] = st->limit1;
    struct json_buf d;
    json_buf_init(&d, &req->pool);
    json_open_object(&d, NULL);
    /* nested: a filter on an office is not an action concerning that office */
    json_open_object(&d, "filters");
    static const char *const names[] = {"from", "to", "action", "actor", "subject", "office", NULL, "before"};
    for (int i = 0; i < 8; i++)
        if (names[i] != NULL && st->v[i] != NULL)
            json_add_str(&d, names[i], st->v[i]);
    json_add_int(&d, "limit", st->limit);
    json_add_str(&d, "format", st->csv ? "csv" : "json");
    json_close_object(&d);
    json_close_object(&d);
    char *detail = json_buf_str(&d);
    struct audit_event ev = {.actor_account = s->account_id,
                             .actor_role = auth_role_name(s->role),
                             .action = "audit.browse",
                             .subject = "audit_log",
                             .detail_json = detail,
                             .client_ip = st->ip[0] ? st->ip : NULL};
    struct pg_tx *tx = pg_tx_begin(st->pg);
    int rc = tx == NULL ? -1 : audit_tx_add(tx, &ev);
    if (rc == 0)
        rc = pg_tx_add(tx, sql_records, 9, st->v);
    if (rc == 0)
        rc = pg_tx_add(tx, sql_head, 0, NULL);
    if (rc != 0) {
        pg_tx_abort(tx);
        unavailable(req);
        server_async_release(st);
        return;
    }
    if (pg_tx_commit(tx, on_read, st) != 0) {
        unavailable(req);
        server_async_release(st);
    }
}

void audit_on_browse(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct browse *st = server_async_alloc(req, sizeof(*st));
    if (st == NULL) {
        unavailable(req);
        return;
    }
    st->pg = server_worker_pg(server_worker_of(req));
    server_client_ip(req, st->ip);
    auth_require(req, AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN) | AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_ADMIN), NULL,
                 on_session, st);
}
