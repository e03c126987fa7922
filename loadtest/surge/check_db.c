/* surge-check: what users were told (the log) against PostgreSQL and Redis. */
#include "check.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHOW_MAX 20 /* violations of one kind printed in full; the rest only counted */

struct row {
    char code[16];
    int64_t slot, user, created_ms;
    int seat, active;
    char doc_type[24], doc_number[24];
};

struct ctx {
    const struct check_opts *o;
    const struct answers *a;
    FILE *out;
    long violations;
    long shown[16];
};

enum { K_LOG, K_WIN, K_ROW, K_CAP, K_PERSON, K_REDIS, K_5XX, K_CAPTCHA, K_HOLD, K_PKEY };

static void violation(struct ctx *c, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void violation(struct ctx *c, int kind, const char *fmt, ...)
{
    c->violations++;
    if (c->shown[kind]++ == SHOW_MAX) {
        fprintf(c->out, "VIOLATION: (more of this kind not shown)\n");
        return;
    }
    if (c->shown[kind] > SHOW_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("VIOLATION: ", c->out);
    vfprintf(c->out, fmt, ap);
    fputc('\n', c->out);
    va_end(ap);
}

static int cmp_row(const void *x, const void *y)
{
    return strcmp(((const struct row *)x)->code, ((const struct row *)y)->code);
}
static int cmp_win(const void *x, const void *y)
{
    return strcmp(((const struct win *)x)->code, ((const struct win *)y)->code);
}

/* The accounts file's emails as a PostgreSQL text[] literal (a parameter value, never SQL text). */
static char *email_array(const struct account *acc, uint32_t n)
{
    size_t cap = 16, len = 0;
    for (uint32_t i = 0; i < n; i++)
        cap += 2 * strlen(acc[i].email) + 4;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    s[len++] = '{';
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0)
            s[len++] = ',';
        s[len++] = '"';
        for (const char *p = acc[i].email; *p; p++) {
            if (*p == '"' || *p == '\\')
                s[len++] = '\\';
            s[len++] = *p;
        }
        s[len++] = '"';
    }
    s[len++] = '}';
    s[len] = '\0';
    return s;
}

static PGresult *query(PGconn *pg, const char *sql, int n, const char *const *v, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "PostgreSQL: %s", r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pg));
        PQclear(r);
        return NULL;
    }
    return r;
}

static const char SQL_ROWS[] =
    "SELECT a.code, a.slot_id, a.seat, a.state IN ('active', 'checked_in'), a.document_type, "
    "a.document_number, "
    "coalesce(u.i - 1, -1), (extract(epoch FROM a.created_at) * 1000)::bigint - $5::bigint "
    "FROM appointments a JOIN slots s ON s.id = a.slot_id "
    "LEFT JOIN accounts ac ON ac.id = a.account_id "
    "LEFT JOIN unnest($3::text[]) WITH ORDINALITY AS u (email, i) ON u.email = ac.email "
    "WHERE s.office_code = $1 AND s.procedure_code = $2 AND ($4::bigint = 0 OR s.window_id = $4::bigint)";

static const char SQL_SLOTS[] =
    "SELECT s.id, s.capacity, s.state, coalesce(string_agg(a.seat::text, ',') "
    "FILTER (WHERE a.state IN ('active', 'checked_in')), '') "
    "FROM slots s LEFT JOIN appointments a ON a.slot_id = s.id "
    "WHERE s.office_code = $1 AND s.procedure_code = $2 AND ($3::bigint = 0 OR s.window_id = $3::bigint) "
    "GROUP BY s.id, s.capacity, s.state ORDER BY s.id";

static const char SQL_PERSONS[] =
    "SELECT document_type, document_number, count(*) FROM appointments WHERE state = 'active' "
    "AND procedure_code = $1 GROUP BY 1, 2 HAVING count(*) > 1";

static const char SQL_ACCOUNTS[] = "SELECT u.i - 1, a.id, coalesce(a.doc_number, '') FROM unnest($1::text[]) "
                                   "WITH ORDINALITY AS u (email, i) "
                                   "LEFT JOIN accounts a ON a.email = u.email";

/* --- log claims against PostgreSQL rows --- */

static void check_rows(struct ctx *c, struct row *rows, size_t nrows, struct win *wins, size_t nwins,
                       struct account *acc, uint32_t nacc, struct db_result *res)
{
    const struct answers *a = c->a;
    qsort(rows, nrows, sizeof(*rows), cmp_row);
    qsort(wins, nwins, sizeof(*wins), cmp_win);
    for (size_t i = 1; i < nwins; i++)
        if (strcmp(wins[i].code, wins[i - 1].code) == 0)
            violation(c, K_WIN, "appointment code %s was answered 201 twice (users %u and %u)", wins[i].code,
                      wins[i - 1].user, wins[i].user);
    size_t i = 0, j = 0;
    while (i < nwins || j < nrows) {
        int d = i >= nwins ? 1 : j >= nrows ? -1 : strcmp(wins[i].code, rows[j].code);
        if (d < 0) {
            violation(c, K_WIN,
                      "user %u was answered 201 with code %s (slot %" PRId64 ") at t=%" PRId64
                      " ms but PostgreSQL has no such appointment",
                      wins[i].user, wins[i].code, wins[i].slot, wins[i].t_ms);
            i++;
            continue;
        }
        struct row *r = &rows[j];
        if (d == 0) {
            const struct win *w = &wins[i];
            if (r->slot != w->slot)
                violation(c, K_WIN, "code %s: 201 said slot %" PRId64 ", PostgreSQL has slot %" PRId64,
                          w->code, w->slot, r->slot);
            if (r->user != (int64_t)w->user)
                violation(c, K_WIN, "code %s: 201 went to user %u, the row belongs to user %" PRId64, w->code,
                          w->user, r->user);
            if (!r->active)
                violation(c, K_WIN, "code %s (user %u): answered 201 but the row is not active", w->code,
                          w->user);
            i++;
            j++;
        } else {
            j++;
            if (!r->active)
                continue;
            if (r->user < 0) {
                violation(c, K_ROW, "active appointment %s (slot %" PRId64 ") belongs to no user of this run",
                          r->code, r->slot);
                continue;
            }
            if (a->users[r->user].book_uncertain) {
                res->rows_uncertain++; /* its user saw a timeout or 503 "not confirmed": allowed */
                continue;
            }
            res->rows_without_201++;
            violation(c, K_ROW,
                      "active appointment %s (slot %" PRId64 ", user %" PRId64
                      ") has no 201 and no timeout in the log",
                      r->code, r->slot, r->user);
        }
    }
    for (size_t k = 0; k < nrows; k++) {
        struct row *r = &rows[k];
        if (!r->active)
            continue;
        res->active_rows++;
        if (r->user >= 0 && (uint32_t)r->user < nacc) {
            if (strcmp(acc[r->user].document, r->doc_number) != 0)
                violation(c, K_ROW,
                          "appointment %s of user %" PRId64 " names document %s, the account has %s", r->code,
                          r->user, r->doc_number, acc[r->user].document);
            if (a->users[r->user].bot)
                res->bot_rows++;
            if (a->users[r->user].captcha_refused) {
                res->capt_bot_rows++;
                violation(c, K_CAPTCHA, "user %" PRId64 " had a captcha refused yet holds appointment %s",
                          r->user, r->code);
            }
        }
        if (res->first_row_ms == INT64_MIN || r->created_ms < res->first_row_ms)
            res->first_row_ms = r->created_ms;
        if (res->last_row_ms == INT64_MIN || r->created_ms > res->last_row_ms)
            res->last_row_ms = r->created_ms;
    }
}

/* --- Redis --- */

static void doc_hash(const char *type, const char *number, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m != NULL && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(m, type, strlen(type)) == 1 && EVP_DigestUpdate(m, ":", 1) == 1 &&
             EVP_DigestUpdate(m, number, strlen(number)) == 1 && EVP_DigestFinal_ex(m, md, &n) == 1;
    EVP_MD_CTX_free(m);
    if (!ok)
        memset(md, 0, sizeof(md));
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Holds of the office: members "<slot>:<seat>" whose hold key is gone (free again at the next reclaim) are
 * returned in *gone (pairs slot, seat); the number of live ones is the return value (-1: Redis error). */
static long read_holds(redisContext *r, const char *office, int64_t **gone, size_t *ngone)
{
    *gone = NULL;
    *ngone = 0;
    redisReply *z = redisCommand(r, "ZRANGE bk:{%s}:holds 0 -1", office);
    if (z == NULL || z->type != REDIS_REPLY_ARRAY) {
        if (z != NULL)
            freeReplyObject(z);
        return -1;
    }
    long live = 0;
    for (size_t i = 0; i < z->elements; i++)
        redisAppendCommand(r, "PTTL bk:{%s}:hold:%s", office, z->element[i]->str);
    *gone = calloc(2 * z->elements + 2, sizeof(int64_t));
    for (size_t i = 0; i < z->elements; i++) {
        redisReply *p = NULL;
        if (redisGetReply(r, (void **)&p) != REDIS_OK || p == NULL || p->type != REDIS_REPLY_INTEGER) {
            if (p != NULL)
                freeReplyObject(p);
            live = -1;
            continue;
        }
        long long slot = 0, seat = 0;
        if (p->integer == -2 && *gone != NULL && sscanf(z->element[i]->str, "%lld:%lld", &slot, &seat) == 2) {
            (*gone)[2 * *ngone] = slot;
            (*gone)[2 * *ngone + 1] = seat;
            (*ngone)++;
        } else if (p->integer != -2 && live >= 0) {
            live++;
        }
        freeReplyObject(p);
    }
    freeReplyObject(z);
    return live;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int check_redis(struct ctx *c, PGresult *slots, const struct row *rows, size_t nrows,
                       struct db_result *res, char *err, size_t errlen)
{
    const struct check_opts *o = c->o;
    struct timeval tv = {5, 0};
    redisContext *r = redisConnectWithTimeout(o->redis_host, o->redis_port, tv);
    if (r == NULL || r->err) {
        snprintf(err, errlen, "Redis %s:%d: %s", o->redis_host, o->redis_port, r ? r->errstr : "no memory");
        redisFree(r);
        return -1;
    }
    redisSetTimeout(r, tv);
    int64_t *gone = NULL;
    size_t ngone = 0;
    long live;
    int waited = 0;
    for (;;) {
        free(gone);
        live = read_holds(r, o->office, &gone, &ngone);
        if (live <= 0 || waited >= o->hold_wait_ms)
            break;
        sleep_ms(200);
        waited += 200;
    }
    if (live < 0) {
        snprintf(err, errlen, "Redis: cannot read the holds of %s", o->office);
        free(gone);
        redisFree(r);
        return -1;
    }
    res->redis_live_holds = live;
    if (live > 0)
        violation(c, K_HOLD, "%ld holds of %s are still live after %d ms: Redis cannot settle yet", live,
                  o->office, waited);

    int n = PQntuples(slots);
    for (int i = 0; i < n; i++) {
        redisAppendCommand(r, "SMEMBERS cal:{%s}:free:%s", o->office, PQgetvalue(slots, i, 0));
        redisAppendCommand(r, "HGET cal:{%s}:slot:%s capacity", o->office, PQgetvalue(slots, i, 0));
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        int64_t slot = strtoll(PQgetvalue(slots, i, 0), NULL, 10);
        int cap = atoi(PQgetvalue(slots, i, 1));
        int cancelled = strcmp(PQgetvalue(slots, i, 2), "open") != 0;
        redisReply *fr = NULL, *cr = NULL;
        if (redisGetReply(r, (void **)&fr) != REDIS_OK || redisGetReply(r, (void **)&cr) != REDIS_OK ||
            fr == NULL || cr == NULL || fr->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errlen, "Redis: %s", r->errstr[0] ? r->errstr : "unexpected reply");
            if (fr != NULL)
                freeReplyObject(fr);
            if (cr != NULL)
                freeReplyObject(cr);
            rc = -1;
            break;
        }
        unsigned char *booked = calloc((size_t)cap + 1, 1), *freeb = calloc((size_t)cap + 1, 1);
        if (booked == NULL || freeb == NULL) {
            free(booked);
            free(freeb);
            freeReplyObject(fr);
            freeReplyObject(cr);
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        for (char *p = PQgetvalue(slots, i, 3); *p;) {
            long s = strtol(p, &p, 10);
            if (s >= 1 && s <= cap) {
                if (booked[s])
                    violation(c, K_CAP, "slot %" PRId64 ": seat %ld has two active appointments", slot, s);
                booked[s] = 1;
            } else {
                violation(c, K_CAP, "slot %" PRId64 ": seat %ld of an active appointment is outside 1..%d",
                          slot, s, cap);
            }
            if (*p == ',')
                p++;
        }
        if (cr->type != REDIS_REPLY_STRING || atoi(cr->str) != cap)
            violation(c, K_REDIS, "slot %" PRId64 ": Redis capacity %s, PostgreSQL %d", slot,
                      cr->type == REDIS_REPLY_STRING ? cr->str : "(missing)", cap);
        for (size_t k = 0; k < fr->elements; k++) {
            long s = fr->element[k]->type == REDIS_REPLY_STRING ? strtol(fr->element[k]->str, NULL, 10) : 0;
            if (s < 1 || s > cap)
                violation(c, K_REDIS, "slot %" PRId64 ": free set holds seat %ld outside 1..%d", slot, s,
                          cap);
            else
                freeb[s] = 1;
        }
        for (size_t k = 0; k < ngone; k++)
            if (gone[2 * k] == slot && gone[2 * k + 1] >= 1 && gone[2 * k + 1] <= cap)
                freeb[gone[2 * k + 1]] = 1; /* an expired hold: its seat returns at the next reclaim */
        if (!cancelled) {
            for (int s = 1; s <= cap; s++) {
                if (booked[s] && freeb[s])
                    violation(c, K_REDIS,
                              "slot %" PRId64 ": seat %d is booked in PostgreSQL but free in Redis", slot, s);
                else if (!booked[s] && !freeb[s] && live == 0)
                    violation(c, K_REDIS,
                              "slot %" PRId64 ": seat %d is free in PostgreSQL but not in Redis (lost)", slot,
                              s);
            }
        }
        free(booked);
        free(freeb);
        freeReplyObject(fr);
        freeReplyObject(cr);
    }

    /* every active appointment's person key names it (the pre-check of "one per person") */
    size_t asked = 0;
    for (size_t k = 0; rc == 0 && k < nrows; k++) {
        if (!rows[k].active)
            continue;
        char h[65];
        doc_hash(rows[k].doc_type, rows[k].doc_number, h);
        redisAppendCommand(r, "GET bk:{%s}:person:%s:%s", o->office, h, o->procedure);
        asked++;
    }
    for (size_t k = 0, got = 0; rc == 0 && got < asked; k++) {
        if (!rows[k].active)
            continue;
        got++;
        redisReply *p = NULL;
        if (redisGetReply(r, (void **)&p) != REDIS_OK || p == NULL) {
            snprintf(err, errlen, "Redis: %s", r->errstr);
            rc = -1;
            break;
        }
        if (p->type != REDIS_REPLY_STRING || strcmp(p->str, rows[k].code) != 0)
            violation(c, K_PKEY, "appointment %s: the person key in Redis is %s", rows[k].code,
                      p->type == REDIS_REPLY_STRING ? p->str : "missing");
        freeReplyObject(p);
    }
    free(gone);
    redisFree(r);
    return rc;
}

long check_db_run(const struct check_opts *o, const struct answers *a, struct account *acc, uint32_t nacc,
                  struct db_result *res, FILE *out, char *err, size_t errlen)
{
    struct ctx c = {.o = o, .a = a, .out = out};
    memset(res, 0, sizeof(*res));
    res->first_row_ms = res->last_row_ms = INT64_MIN;
    if (a->bad_lines > 0)
        violation(&c, K_LOG, "%" PRIu64 " malformed lines in the answer log", a->bad_lines);
    uint64_t n5 = 0;
    for (int s = 500; s < 600; s++)
        n5 += a->by_status[s];
    if (n5 > 0 && !o->faults)
        violation(&c, K_5XX, "%" PRIu64 " answers were 5xx in a run without fault modes", n5);

    PGconn *pg = PQconnectdb(o->pg_dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errlen, "PostgreSQL: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return -1;
    }
    char *emails = email_array(acc, nacc);
    char release[24], window[24];
    snprintf(release, sizeof(release), "%" PRId64, o->release_ms);
    snprintf(window, sizeof(window), "%" PRId64, o->window_id);
    long rc = -1;
    struct row *rows = NULL;
    struct win *wins = NULL;
    PGresult *ra = NULL, *rr = NULL, *rs = NULL, *rp = NULL;
    if (emails == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    const char *va[] = {emails};
    if ((ra = query(pg, SQL_ACCOUNTS, 1, va, err, errlen)) == NULL)
        goto done;
    for (int i = 0; i < PQntuples(ra); i++) {
        long u = atol(PQgetvalue(ra, i, 0));
        if (u >= 0 && (uint32_t)u < nacc && !PQgetisnull(ra, i, 1))
            acc[u].id = atoll(PQgetvalue(ra, i, 1));
    }
    uint32_t missing = 0;
    for (uint32_t i = 0; i < nacc; i++)
        missing += acc[i].id == 0;
    if (missing > 0)
        violation(&c, K_LOG, "%u accounts of the accounts file are not in PostgreSQL", missing);

    const char *vr[] = {o->office, o->procedure, emails, window, release};
    if ((rr = query(pg, SQL_ROWS, 5, vr, err, errlen)) == NULL)
        goto done;
    size_t nrows = (size_t)PQntuples(rr);
    rows = calloc(nrows + 1, sizeof(*rows));
    wins = malloc((a->nwins + 1) * sizeof(*wins));
    if (rows == NULL || wins == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    memcpy(wins, a->wins, a->nwins * sizeof(*wins));
    for (size_t i = 0; i < nrows; i++) {
        struct row *w = &rows[i];
        snprintf(w->code, sizeof(w->code), "%s", PQgetvalue(rr, (int)i, 0));
        w->slot = atoll(PQgetvalue(rr, (int)i, 1));
        w->seat = atoi(PQgetvalue(rr, (int)i, 2));
        w->active = PQgetvalue(rr, (int)i, 3)[0] == 't';
        snprintf(w->doc_type, sizeof(w->doc_type), "%s", PQgetvalue(rr, (int)i, 4));
        snprintf(w->doc_number, sizeof(w->doc_number), "%s", PQgetvalue(rr, (int)i, 5));
        w->user = atoll(PQgetvalue(rr, (int)i, 6));
        w->created_ms = atoll(PQgetvalue(rr, (int)i, 7));
    }
    check_rows(&c, rows, nrows, wins, a->nwins, acc, nacc, res);

    const char *vs[] = {o->office, o->procedure, window};
    if ((rs = query(pg, SQL_SLOTS, 3, vs, err, errlen)) == NULL)
        goto done;
    res->slots = PQntuples(rs);
    for (int i = 0; i < PQntuples(rs); i++) {
        if (strcmp(PQgetvalue(rs, i, 2), "open") == 0)
            res->seats += atoll(PQgetvalue(rs, i, 1));
        int cap = atoi(PQgetvalue(rs, i, 1)), used = 0;
        for (const char *p = PQgetvalue(rs, i, 3); *p; p++)
            used += *p == ',';
        used += PQgetvalue(rs, i, 3)[0] != '\0';
        if (used > cap)
            violation(&c, K_CAP, "slot %s holds %d active appointments for %d seats", PQgetvalue(rs, i, 0),
                      used, cap);
    }
    if (res->slots == 0)
        violation(&c, K_LOG, "office %s has no slots of %s: nothing was checked", o->office, o->procedure);

    const char *vp[] = {o->procedure};
    if ((rp = query(pg, SQL_PERSONS, 1, vp, err, errlen)) == NULL)
        goto done;
    for (int i = 0; i < PQntuples(rp); i++)
        violation(&c, K_PERSON, "document %s %s holds %s active appointments of %s", PQgetvalue(rp, i, 0),
                  PQgetvalue(rp, i, 1), PQgetvalue(rp, i, 2), o->procedure);

    if (check_redis(&c, rs, rows, nrows, res, err, errlen) != 0)
        goto done;
    rc = c.violations;
done:
    PQclear(ra);
    PQclear(rr);
    PQclear(rs);
    PQclear(rp);
    free(rows);
    free(wins);
    free(emails);
    PQfinish(pg);
    return rc;
}
