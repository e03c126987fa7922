/*
 * calendar: POST /api/v1/admin/offices/{code}/days/{date}/cancel — cancels every slot of one local day of
 * an office, the day's active appointments, and emails their citizens (mail kind booking_cancelled).
 *
 * Order: read the day's open slots and active appointments; mark the slots "cancelled" in Redis (no new
 * holds from here on); then one transaction cancels the slots and the appointments, records the actions
 * in booking_events and queues the emails. The transaction re-reads the appointments it cancels and fails
 * (CA40R) if they are not the ones read before (a booking committed in between): then it starts over, at
 * most three times. Finally the citizens' Redis pre-check keys are forgotten. The transaction also writes
 * the day.cancel audit record (audit_add(), sql/010); each cancelled appointment's own record comes from
 * its booking_events row.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "citas/mail.h"

#define MAX_ATTEMPTS 3

/* one row with a NULL id: an office without open slots that day; no row: no such office */
static const char sql_day_slots[] =
    "SELECT s.id, to_regclass('appointments') IS NOT NULL FROM offices o LEFT JOIN slots s ON s.office_code "
    "= o.code AND s.local_start >= $2::date"
    " AND s.local_start < $2::date + 1 AND s.state = 'open' WHERE o.code = $1 ORDER BY s.id";
static const char sql_day_appointments[] =
    "SELECT a.id, a.code, acc.email, coalesce(acc.lang, 'es'),"
    " to_char(s.local_start, 'YYYY-MM-DD HH24:MI'), o.name_es, o.name_en, p.name_es, p.name_en,"
    " encode(digest(a.document_type || ':' || a.document_number, 'sha256'), 'hex'), a.procedure_code"
    " FROM appointments a JOIN slots s ON s.id = a.slot_id JOIN offices o ON o.code = a.office_code"
    " JOIN procedures p ON p.code = a.procedure_code LEFT JOIN accounts acc ON acc.id = a.account_id"
    " WHERE a.office_code = $1 AND a.state = 'active' AND s.local_start >= $2::date"
    " AND s.local_start < $2::date + 1 ORDER BY a.id";
static const char sql_cancel_slots[] = "UPDATE slots SET state = 'cancelled' WHERE office_code = $1"
                                       " AND local_start >= $2::date AND local_start < $2::date + 1"
                                       " AND state = 'open'";
static const char sql_cancel_appointments[] =
    "WITH c AS (UPDATE appointments SET state = 'cancelled', cancelled_at = now(), cancel_reason = "
    "'day_cancelled'"
    " WHERE office_code = $1 AND state = 'active' AND slot_id IN (SELECT id FROM slots WHERE office_code = $1"
    " AND local_start >= $2::date AND local_start < $2::date + 1) RETURNING id)"
    " SELECT calendar_same_ids((SELECT array_agg(id) FROM c), $3::bigint[])";
static const char sql_events[] =
    "INSERT INTO booking_events (appointment_id, action, account_id, client_ip, detail)"
    " SELECT x, 'cancelled', $2::bigint, $3::inet, '{\"reason\": \"day_cancelled\"}'"
    " FROM unnest($1::bigint[]) AS x";

static const char sql_audit[] =
    "SELECT audit_add($1::bigint, NULL, 'day.cancel', 'day:' || $2 || ':' || $3, jsonb_build_object('office',"
    " $2::text, 'date', $3::text, 'slots', (SELECT count(*) FROM slots WHERE office_code = $2 AND local_start"
    " >= $3::date AND local_start < $3::date + 1 AND state = 'cancelled'), 'appointments', $4::int),"
    " $5::inet)";

struct day_cancel {
    struct cal_worker *cw;
    char office[CAL_CODE_MAX + 1], date[11], ip[64], by[24];
    int attempts;
    int have_appointments; /* booking's table exists (sql/006) */
    int64_t nslots, nappointments, nemails;
    char *persons; /* after commit: "key\tcode\n" lines for unperson.lua, malloc'd */
    size_t npersons;
};

static void start(struct day_cancel *st);

static void finish(struct day_cancel *st, int status, const char *detail)
{
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (status != 200) {
            server_send_problem(req, status, status == 404 ? "Not found" : "Service unavailable", detail);
        } else {
            struct json_buf b;
            json_buf_init(&b, &req->pool);
            json_open_object(&b, NULL);
            json_add_str(&b, "office", st->office);
            json_add_str(&b, "date", st->date);
            json_add_int(&b, "slots_cancelled", st->nslots);
            json_add_int(&b, "appointments_cancelled", st->nappointments);
            json_add_int(&b, "emails", st->nemails);
            json_close_object(&b);
            server_send_json(req, 200, b.base, b.len);
        }
    }
    free(st->persons);
    server_async_release(st);
}

static void on_unperson(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    (void)reply;
    (void)err; /* best effort: the keys are only a pre-check, PostgreSQL has the truth */
    finish(ctx, 200, NULL);
}

static void forget_persons(struct day_cancel *st)
{
    if (st->npersons == 0) {
        finish(st, 200, NULL);
        return;
    }
    size_t n = st->npersons;
    const char **argv = malloc(sizeof(*argv) * (1 + 2 * n));
    if (argv == NULL) {
        finish(st, 200, NULL);
        return;
    }
    size_t i = 0;
    for (char *line = st->persons; i < n && *line != '\0'; i++) {
        char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
        *tab = '\0';
        *nl = '\0';
        argv[i] = line;
        argv[n + i] = tab + 1;
        line = nl + 1;
    }
    if (redis_evalsha(st->cw->redis, st->cw->unperson, (int)n, (int)(2 * n), argv, NULL, on_unperson, st) !=
        0)
        finish(st, 200, NULL);
    free(argv);
}

static void on_committed(const struct pg_reply *r, void *ctx)
{
    struct day_cancel *st = ctx;
    if (r->status == PG_ERR_QUERY && strcmp(r->sqlstate, "CA40R") == 0 && st->attempts < MAX_ATTEMPTS) {
        free(st->persons);
        st->persons = NULL;
        start(st);
        return;
    }
    if (r->status != PG_OK) {
        finish(st, 503,
               "The day's slots are closed for booking, but the cancellation could not be saved; repeat the "
               "request.");
        return;
    }
    forget_persons(st);
}

static int add_mail(struct pg_tx *tx, const PGresult *res, int row)
{
    const char *email = PQgetvalue(res, row, 2);
    if (PQgetisnull(res, row, 2) || email[0] == '\0')
        return 0;
    const char *lang = PQgetvalue(res, row, 3);
    int en = strcmp(lang, "en") == 0;
    struct mail_param params[] = {
        {"code", PQgetvalue(res, row, 1)},
        {"office", PQgetvalue(res, row, en ? 6 : 5)},
        {"when", PQgetvalue(res, row, 4)},
        {"procedure", PQgetvalue(res, row, en ? 8 : 7)},
        {"reason", en ? "The office had to cancel every appointment of this day."
                      : "La oficina tuvo que cancelar todas las citas de este día."},
    };
    struct mail_message m = {
        .to = email,
        .lang = en ? "en" : "es",
        .kind = MAIL_BOOKING_CANCELLED,
        .params = params,
        .nparams = sizeof(params) / sizeof(params[0]),
    };
    return mail_tx_add(tx, &m) == 0 ? 1 : 0;
}

static void on_read(const struct pg_reply *r, void *ctx);
static void commit_cancel(struct day_cancel *st, const PGresult *res);

static void on_marked(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    (void)reply;
    struct day_cancel *st = ctx;
    if (err != NULL) {
        finish(st, 503, "Redis cannot be reached now; nothing was cancelled. Try again.");
        return;
    }
    st->attempts++;
    if (!st->have_appointments) {
        commit_cancel(st, NULL);
        return;
    }
    /* read the appointments again right before the transaction: it compares with this list */
    const char *v[] = {st->office, st->date};
    struct pg_tx *tx = pg_tx_begin(st->cw->pg);
    if (tx == NULL || pg_tx_add(tx, sql_day_appointments, 2, v) != 0 || pg_tx_commit(tx, on_read, st) != 0) {
        finish(st, 503, "The database cannot be reached now; try again.");
    }
}

static void on_read(const struct pg_reply *r, void *ctx)
{
    struct day_cancel *st = ctx;
    if (r->status != PG_OK || r->nresults != 1) {
        finish(st, 503, "The database cannot be reached now; try again.");
        return;
    }
    commit_cancel(st, r->results[0]);
}

/* The transaction: the day's slots, and the appointments in res (NULL without an appointments table). */
static void commit_cancel(struct day_cancel *st, const PGresult *res)
{
    int n = res != NULL ? PQntuples(res) : 0;
    /* "{1,2,3}" of the ids, and the person keys for afterwards */
    size_t cap = 3 + (size_t)n * 21, pcap = 1 + (size_t)n * 160;
    char *ids = malloc(cap), *persons = malloc(pcap);
    if (ids == NULL || persons == NULL) {
        free(ids);
        free(persons);
        finish(st, 503, "Out of memory.");
        return;
    }
    size_t len = 0, plen = 0;
    ids[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(ids + len, cap - len, "%s%s", i > 0 ? "," : "", PQgetvalue(res, i, 0));
    ids[len++] = '}';
    ids[len] = '\0';
    for (int i = 0; i < n; i++)
        plen +=
            (size_t)snprintf(persons + plen, pcap - plen, "bk:{%s}:person:%.64s:%.32s\t%.16s\n", st->office,
                             PQgetvalue(res, i, 9), PQgetvalue(res, i, 10), PQgetvalue(res, i, 1));
    persons[plen] = '\0';
    free(st->persons);
    st->persons = persons;
    st->npersons = (size_t)n;
    st->nappointments = n;
    st->nemails = 0;

    struct pg_tx *tx = pg_tx_begin(st->cw->pg);
    if (tx == NULL) {
        free(ids);
        finish(st, 503, "Out of memory.");
        return;
    }
    const char *v2[] = {st->office, st->date};
    const char *v3[] = {st->office, st->date, ids};
    const char *ve[] = {ids, st->by[0] != '\0' ? st->by : NULL, st->ip[0] != '\0' ? st->ip : NULL};
    pg_tx_add(tx, sql_cancel_slots, 2, v2);
    if (res != NULL)
        pg_tx_add(tx, sql_cancel_appointments, 3, v3);
    if (n > 0)
        pg_tx_add(tx, sql_events, 3, ve);
    char nappt[16];
    snprintf(nappt, sizeof(nappt), "%d", n);
    const char *va[] = {st->by[0] != '\0' ? st->by : NULL, st->office, st->date, nappt,
                        st->ip[0] != '\0' ? st->ip : NULL};
    pg_tx_add(tx, sql_audit, 5, va);
    for (int i = 0; i < n; i++)
        st->nemails += add_mail(tx, res, i);
    free(ids);
    if (pg_tx_commit(tx, on_committed, st) != 0)
        finish(st, 503, "The database cannot be reached now; try again.");
}

static void on_slots(const struct pg_reply *r, void *ctx)
{
    struct day_cancel *st = ctx;
    if (r->status != PG_OK || r->nresults != 1) {
        finish(st, 503, "The database cannot be reached now; try again.");
        return;
    }
    const PGresult *res = r->results[0];
    int n = PQntuples(res);
    if (n == 0) {
        finish(st, 404, "There is no such office.");
        return;
    }
    st->have_appointments = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    if (PQgetisnull(res, 0, 0))
        n = 0;
    if (st->attempts == 0)
        st->nslots = n;
    const char **argv = malloc(sizeof(*argv) * (4 + (size_t)n));
    if (argv == NULL) {
        finish(st, 503, "Out of memory.");
        return;
    }
    char key[96];
    snprintf(key, sizeof(key), "cal:{%s}:day:%s", st->office, st->date);
    int argc = 0;
    argv[argc++] = key;
    argv[argc++] = st->office;
    argv[argc++] = "cancelled";
    argv[argc++] = "";
    for (int i = 0; i < n; i++)
        argv[argc++] = PQgetvalue(res, i, 0);
    /* Redis first: from here no new hold can be taken on the day */
    if (redis_evalsha(st->cw->redis, st->cw->state, 1, argc, argv, NULL, on_marked, st) != 0)
        finish(st, 503, "Redis cannot be reached now; nothing was cancelled. Try again.");
    free(argv);
}

static void start(struct day_cancel *st)
{
    const char *v[] = {st->office, st->date};
    if (pg_query(st->cw->pg, sql_day_slots, 2, v, on_slots, st) != 0)
        finish(st, 503, "The database cannot be reached now; try again.");
}

static void on_staff(h2o_req_t *req, int64_t account_id, void *ctx)
{
    struct day_cancel *st = ctx;
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    if (account_id > 0)
        snprintf(st->by, sizeof(st->by), "%lld", (long long)account_id);
    server_client_ip(req, st->ip);
    start(st);
}

void calendar_on_day_cancel(h2o_req_t *req, const struct server_params *p)
{
    struct cal_worker *cw = cal_worker_of(req);
    if (cw == NULL || !cal_code_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no such office.");
        return;
    }
    if (cal_parse_date(p->v[1].base, p->v[1].len) < 0) {
        server_send_problem(req, 400, "Bad request", "The day must be a date, YYYY-MM-DD.");
        return;
    }
    struct day_cancel *st = server_async_alloc(req, sizeof(*st));
    st->cw = cw;
    memcpy(st->office, p->v[0].base, p->v[0].len);
    memcpy(st->date, p->v[1].base, 10);
    cal_require_staff(req, st->office, on_staff, st);
}
