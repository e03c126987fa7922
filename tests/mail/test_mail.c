/*
 * mail against a real PostgreSQL (CITAS_TEST_PG_DSN, migrated) and the in-process smtp-sink.
 *
 * The database is shared with other tests, which may run senders of their own, so this test works in a
 * private schema holding a copy of the migrated mail_outbox (CREATE TABLE ... (LIKE public.mail_outbox
 * INCLUDING ALL): same columns, checks and indexes) and reaches it through search_path. The schema is
 * dropped at the end.
 *
 *   1. queueing: 10 messages on their own, 10 inside transactions with another insert, one inside a
 *      transaction that fails (never sent); all 20 arrive exactly once, parsed and compared with what
 *      was rendered, attachments intact;
 *   2. SMTP down: attempt recorded, backoff, delivered once the server is up; max_attempts -> 'failed';
 *      a recipient refused with 550 fails at once;
 *   3. a row left 'sending' by a dead process is sent again after its lease, a live lease is respected;
 *      destroying a sender mid-transfer leaves the row 'sending' for the lease to recover;
 *   4. a loaded outbox (2,000 rows) through the default pipelining: each message arrives exactly once and
 *      every row ends 'sent' (the rate is printed for information, not checked).
 */
#include "citas/mail.h"
#include "eml.h"
#include "harness.h"
#include "smtp_sink.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct ring *ring;
static struct pg_pool *pool;
static struct curl_client *curl;
static PGconn *admin; /* blocking connection of the test itself, search_path = the private schema */
static char schema[64];
static int pid;

/* ---- blocking SQL for checks ---------------------------------------------------------------------- */

static char *sql_str(const char *q, int n, const char *const *v)
{
    PGresult *r = PQexecParams(admin, q, n, NULL, v, NULL, NULL, 0);
    char *out = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        out = strdup(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "sql failed: %s: %s", q, PQerrorMessage(admin));
    PQclear(r);
    return out;
}

static long long sql_int(const char *q, int n, const char *const *v)
{
    char *s = sql_str(q, n, v);
    long long x = s ? atoll(s) : -1;
    free(s);
    return x;
}

static int sql_exec(const char *q)
{
    PGresult *r = PQexec(admin, q);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "sql failed: %s: %s", q, PQerrorMessage(admin));
    PQclear(r);
    return ok ? 0 : -1;
}

/* A column of the outbox row of `to`, as text ("" for NULL, NULL if there is no such row). */
static char *row_col(const char *to, const char *expr)
{
    char q[512];
    snprintf(q, sizeof(q), "SELECT coalesce((%s)::text, '') FROM mail_outbox WHERE to_addr = $1", expr);
    const char *v[] = {to};
    return sql_str(q, 1, v);
}

static int row_is(const char *to, const char *expr, const char *want)
{
    char *s = row_col(to, expr);
    int eq = s != NULL && strcmp(s, want) == 0;
    if (!eq && getenv("CITAS_TEST_VERBOSE"))
        fprintf(stderr, "%s of %s: %s, want %s\n", expr, to, s ? s : "(no row)", want);
    free(s);
    return eq;
}

/* ---- the loop --------------------------------------------------------------------------------------- */

struct done {
    int calls;
    enum pg_status status;
    char sqlstate[6];
};

static void on_done(const struct pg_reply *r, void *ctx)
{
    struct done *d = ctx;
    d->calls++;
    d->status = r->status;
    snprintf(d->sqlstate, sizeof(d->sqlstate), "%s", r->sqlstate);
    if (r->status != PG_OK && getenv("CITAS_TEST_VERBOSE"))
        fprintf(stderr, "pg: %s %s %s\n", pg_status_str(r->status), r->sqlstate, r->message);
}

static void run_for(int ms)
{
    long long end = harness_now_ms() + ms;
    while (harness_now_ms() < end)
        ring_run_once(ring, 5);
}

/* Runs the loop until pred(arg) holds (checked every 20 ms) or timeout_ms pass; returns pred's value. */
static int run_until(int (*pred)(const void *), const void *arg, int timeout_ms)
{
    long long end = harness_now_ms() + timeout_ms, next = 0;
    for (;;) {
        long long now = harness_now_ms();
        if (now >= next) {
            if (pred(arg))
                return 1;
            next = now + 20;
        }
        if (now >= end)
            return 0;
        ring_run_once(ring, 5);
    }
}

struct sink_want {
    struct smtp_sink *sink;
    unsigned long n;
};

static int sink_has(const void *arg)
{
    const struct sink_want *w = arg;
    return smtp_sink_count(w->sink) >= w->n;
}

struct row_want {
    const char *to, *expr, *value;
};

static int row_has(const void *arg)
{
    const struct row_want *w = arg;
    return row_is(w->to, w->expr, w->value);
}

static int wait_row(const char *to, const char *expr, const char *value, int timeout_ms)
{
    struct row_want w = {to, expr, value};
    return run_until(row_has, &w, timeout_ms);
}

static struct mail_sender *sender_start(int port, uint32_t retry_base_ms, uint32_t max_attempts,
                                        uint32_t lease_ms)
{
    char url[64];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
    struct mail_config cfg = {
        .smtp_url = url,
        .smtp_user = "citas",
        .smtp_password = "secret",
        .smtp_starttls = CURL_CLIENT_STARTTLS_NONE,
        .smtp_timeout_ms = 10000,
        .from = "Citas Test <no-reply@citas.test>",
        .poll_ms = 50,
        .batch = 4,
        .max_attempts = max_attempts,
        .retry_base_ms = retry_base_ms,
        .lease_ms = lease_ms,
    };
    struct mail_sender *s = NULL;
    CHECK_INT(mail_sender_create(ring, pool, curl, &cfg, &s), 0);
    return s;
}

static void sender_stop(struct mail_sender *s)
{
    mail_sender_destroy(s);
    run_for(20); /* the timer's cancellation comes back */
}

static int enqueue(const char *to, enum mail_kind kind, const struct mail_param *p, size_t n)
{
    struct done d = {0};
    struct mail_message m = {.to = to, .lang = "en", .kind = kind, .params = p, .nparams = n};
    if (mail_enqueue(pool, &m, on_done, &d) != 0)
        return -1;
    long long end = harness_now_ms() + 10000;
    while (d.calls < 1 && harness_now_ms() < end)
        ring_run_once(ring, 5);
    return d.calls == 1 && d.status == PG_OK ? 0 : -1;
}

/* ---- 1. queueing and delivery ------------------------------------------------------------------------ */

static const char ics[] = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//citas//test//ES\r\nMETHOD:PUBLISH\r\n"
                          "BEGIN:VEVENT\r\nUID:MEX-7Q4K@citas.test\r\nDTSTAMP:20250301T120000Z\r\n"
                          "DTSTART;TZID=America/Los_Angeles:20250314T093000\r\nSUMMARY:Cita: Pasaporte "
                          "(renovación)\r\nLOCATION:Consulado General de México en Los Ángeles\r\n"
                          "END:VEVENT\r\nEND:VCALENDAR\r\n";

struct msg {
    char to[96];
    char code[16];
    enum mail_kind kind;
    const char *lang;
    struct mail_param p[6];
    size_t np;
    struct mail_attachment att;
    int has_att;
    int seen;
};

static struct msg msgs[20];

static void msg_init(int i)
{
    struct msg *m = &msgs[i];
    snprintf(m->to, sizeof(m->to), "m%02d-%d@example.test", i, pid);
    snprintf(m->code, sizeof(m->code), "%06d", 100000 + i * 7919);
    m->kind = (enum mail_kind)(i % MAIL_KIND_COUNT);
    m->lang = i % 2 ? "en" : "es";
    struct mail_param p[] = {{"code", m->code},
                             {"minutes", "10"},
                             {"office", "Consulado General de México en Los Ángeles"},
                             {"when", "2025-03-14 09:30"},
                             {"procedure", "Pasaporte (renovación)"},
                             {"name", i == 3 ? "<script>alert(1)</script>" : "María José"}};
    memcpy(m->p, p, sizeof(p));
    m->np = N(p);
    if (i == 10) {
        m->kind = MAIL_BOOKING_CONFIRMED;
        m->att = (struct mail_attachment){"cita.ics", "text/calendar; charset=UTF-8; method=PUBLISH", ics,
                                          sizeof(ics) - 1};
        m->has_att = 1;
    } else if (i == 11) {
        static unsigned char bin[1000];
        for (size_t k = 0; k < sizeof(bin); k++)
            bin[k] = (unsigned char)(k * 131 + 7);
        m->att = (struct mail_attachment){"datos.bin", "application/octet-stream", bin, sizeof(bin)};
        m->has_att = 1;
    }
}

static struct mail_message as_message(const struct msg *m)
{
    return (struct mail_message){.to = m->to,
                                 .lang = m->lang,
                                 .kind = m->kind,
                                 .params = m->p,
                                 .nparams = m->np,
                                 .attachment = m->has_att ? &m->att : NULL};
}

static void strip_nl(char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '\n')
        s[n - 1] = '\0';
}

/* Checks one stored message against what its row was rendered from. */
static void check_eml(const char *path, char (*msgids)[128], int *nmsgids)
{
    struct eml e;
    int rc = eml_load(path, &e);
    CHECK_INT(rc, 0);
    char h[1024];
    eml_header(&e, "X-Sink-To", 0, h, sizeof(h));
    struct msg *m = NULL;
    for (size_t i = 0; i < N(msgs); i++) {
        char want[128];
        snprintf(want, sizeof(want), "<%.100s>", msgs[i].to);
        if (strcmp(h, want) == 0)
            m = &msgs[i];
    }
    CHECK(m != NULL);
    if (m == NULL || rc != 0) {
        fprintf(stderr, "unexpected message %s for %s\n", path, h);
        eml_free(&e);
        return;
    }
    m->seen++;
    struct mail_rendered r;
    CHECK_INT(mail_render(m->kind, m->lang, m->p, m->np, &r), 0);
    if (r.subject == NULL) {
        eml_free(&e);
        return;
    }
    CHECK(e.crlf_only);
    CHECK(e.max_line <= 76);
    CHECK(strcmp(eml_header(&e, "Subject", 1, h, sizeof(h)), r.subject) == 0);
    CHECK(strcmp(eml_header(&e, "From", 0, h, sizeof(h)), "\"Citas Test\" <no-reply@citas.test>") == 0);
    char want[128];
    snprintf(want, sizeof(want), "<%s>", m->to);
    CHECK(strcmp(eml_header(&e, "To", 0, h, sizeof(h)), want) == 0);
    CHECK(strcmp(eml_header(&e, "X-Sink-From", 0, h, sizeof(h)), "<no-reply@citas.test>") == 0);
    CHECK(strcmp(eml_header(&e, "X-Sink-Auth", 0, h, sizeof(h)), "citas") == 0);
    CHECK(strcmp(eml_header(&e, "X-Citas-Kind", 0, h, sizeof(h)), mail_kind_name(m->kind)) == 0);
    CHECK(strcmp(eml_header(&e, "Content-Language", 0, h, sizeof(h)), m->lang) == 0);
    CHECK(strlen(eml_header(&e, "Date", 0, h, sizeof(h))) > 20);
    eml_header(&e, "Message-ID", 0, h, sizeof(h));
    CHECK(h[0] == '<' && strstr(h, "@citas.test>") != NULL);
    for (int i = 0; i < *nmsgids; i++)
        CHECK(strcmp(msgids[i], h) != 0);
    if (*nmsgids < 20)
        snprintf(msgids[(*nmsgids)++], 128, "%.120s", h);

    const struct eml_part *t = eml_part(&e, "text/plain"), *hp = eml_part(&e, "text/html");
    CHECK(t != NULL && hp != NULL);
    if (t != NULL && hp != NULL) {
        strip_nl(r.text);
        strip_nl(r.html);
        CHECK(strcmp((const char *)t->data, r.text) == 0);
        CHECK(strcmp((const char *)hp->data, r.html) == 0);
        CHECK(strstr((const char *)t->data, m->code) != NULL);
        CHECK(strstr((const char *)hp->data, m->code) != NULL);
        if (m == &msgs[3]) {
            CHECK(strstr((const char *)hp->data, "<script>") == NULL);
            CHECK(strstr((const char *)hp->data, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
        }
    }
    const char *ct = eml_header(&e, "Content-Type", 0, h, sizeof(h));
    if (m->has_att) {
        CHECK(strncmp(ct, "multipart/mixed", 15) == 0);
        CHECK_INT(e.nparts, 3);
        const struct eml_part *a = eml_part(&e, m->att.content_type);
        CHECK(a != NULL);
        if (a != NULL) {
            char fn[64];
            snprintf(fn, sizeof(fn), "filename=\"%s\"", m->att.name);
            CHECK(strstr(a->disposition, fn) != NULL);
            CHECK(a->len == m->att.len && memcmp(a->data, m->att.data, a->len) == 0);
        }
    } else {
        CHECK(strncmp(ct, "multipart/alternative", 21) == 0);
        CHECK_INT(e.nparts, 2);
    }
    mail_rendered_free(&r);
    eml_free(&e);
}

static void test_delivery(const char *dir)
{
    struct smtp_sink *sink = NULL;
    CHECK_INT(smtp_sink_start(0, dir, &sink), 0);
    if (sink == NULL)
        return;

    struct done d[21] = {{0}};
    for (int i = 0; i < 20; i++) {
        msg_init(i);
        struct mail_message mm = as_message(&msgs[i]);
        if (i < 10) {
            CHECK_INT(mail_enqueue(pool, &mm, on_done, &d[i]), 0);
            continue;
        }
        struct pg_tx *tx = pg_tx_begin(pool);
        char id[16];
        snprintf(id, sizeof(id), "%d", i);
        const char *v[] = {id};
        CHECK_INT(pg_tx_add(tx, "INSERT INTO side (id) VALUES ($1::int)", 1, v), 0);
        CHECK_INT(mail_tx_add(tx, &mm), 0);
        CHECK_INT(pg_tx_commit(tx, on_done, &d[i]), 0);
    }
    for (int i = 0; i < 20; i++) {
        long long end = harness_now_ms() + 10000;
        while (d[i].calls < 1 && harness_now_ms() < end)
            ring_run_once(ring, 5);
        CHECK_INT(d[i].calls, 1);
        CHECK_INT(d[i].status, PG_OK);
    }
    /* a transaction whose other statement fails takes its message with it */
    char never[96];
    snprintf(never, sizeof(never), "never-%d@example.test", pid);
    struct mail_message mm = as_message(&msgs[0]);
    mm.to = never;
    struct pg_tx *tx = pg_tx_begin(pool);
    const char *dup[] = {"10"};
    CHECK_INT(mail_tx_add(tx, &mm), 0);
    CHECK_INT(pg_tx_add(tx, "INSERT INTO side (id) VALUES ($1::int)", 1, dup), 0);
    CHECK_INT(pg_tx_commit(tx, on_done, &d[20]), 0);
    long long end = harness_now_ms() + 10000;
    while (d[20].calls < 1 && harness_now_ms() < end)
        ring_run_once(ring, 5);
    CHECK_INT(d[20].status, PG_ERR_QUERY);
    CHECK(strcmp(d[20].sqlstate, "23505") == 0);
    CHECK_INT(sql_int("SELECT count(*) FROM mail_outbox", 0, NULL), 20);
    CHECK_INT(sql_int("SELECT count(*) FROM side", 0, NULL), 10);
    /* an invalid message is refused before anything is added */
    tx = pg_tx_begin(pool);
    mm.to = "not an address";
    CHECK_INT(mail_tx_add(tx, &mm), -22);
    pg_tx_abort(tx);

    struct mail_sender *s = sender_start(smtp_sink_port(sink), 100, 3, 0);
    struct sink_want w = {sink, 20};
    uint64_t max_pending = 0;
    struct mail_sender_stats st = {0};
    end = harness_now_ms() + 30000;
    while (smtp_sink_count(sink) < 20 && harness_now_ms() < end) {
        ring_run_once(ring, 5);
        if (s != NULL) {
            mail_sender_get_stats(s, &st);
            max_pending = st.pending > max_pending ? st.pending : max_pending;
        }
    }
    CHECK(sink_has(&w));
    CHECK(wait_row(msgs[19].to, "(SELECT count(*) FROM mail_outbox WHERE state = 'sent')", "20", 10000));
    run_for(300); /* nothing more arrives */
    CHECK_INT(smtp_sink_count(sink), 20);
    CHECK_INT(
        sql_int("SELECT count(*) FROM mail_outbox WHERE state = 'sent' AND attempts = 1 AND sent_at IS NOT "
                "NULL AND last_error IS NULL",
                0, NULL),
        20);
    CHECK_INT(max_pending, 20);
    if (s != NULL) {
        end = harness_now_ms() + 5000;
        do {
            ring_run_once(ring, 5);
            mail_sender_get_stats(s, &st);
        } while (st.pending != 0 && harness_now_ms() < end);
        CHECK_INT(st.pending, 0);
        CHECK_INT(st.sent, 20);
        CHECK_INT(st.failed, 0);
        CHECK_INT(st.retries, 0);
        CHECK_INT(st.in_flight, 0);
        CHECK_INT(st.db_errors, 0);
    }
    sender_stop(s);
    smtp_sink_stop(sink);

    DIR *dh = opendir(dir);
    struct dirent *de;
    char msgids[20][128];
    int nmsgids = 0, files = 0;
    while (dh != NULL && (de = readdir(dh)) != NULL) {
        if (strstr(de->d_name, ".eml") == NULL)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        check_eml(path, msgids, &nmsgids);
        files++;
    }
    if (dh != NULL)
        closedir(dh);
    CHECK_INT(files, 20);
    for (size_t i = 0; i < N(msgs); i++)
        CHECK_INT(msgs[i].seen, 1);
}

/* ---- 2. failures and retries ----------------------------------------------------------------------------
 */

static void test_retries(const char *dir)
{
    const struct mail_param p[] = {{"code", "654321"}, {"minutes", "10"}};
    char to[96];

    /* SMTP down: the attempt is recorded and put off by retry_base_ms (2 s) */
    int port = harness_free_port();
    snprintf(to, sizeof(to), "retry-%d@example.test", pid);
    CHECK_INT(enqueue(to, MAIL_LOGIN_CODE, p, N(p)), 0);
    struct mail_sender *s = sender_start(port, 2000, 5, 0);
    struct mail_sender_stats st = {0};
    CHECK(wait_row(to, "attempts", "1", 10000));
    CHECK(wait_row(to, "state", "pending", 10000));
    CHECK(row_is(to, "last_error <> ''", "true"));
    CHECK(row_is(to, "next_attempt_at >= created_at + interval '2 seconds'", "true"));
    if (getenv("CITAS_TEST_VERBOSE")) {
        char *e = row_col(to, "last_error");
        fprintf(stderr, "connection refused recorded as: %s\n", e ? e : "(no row)");
        free(e);
    }
    if (s != NULL) {
        mail_sender_get_stats(s, &st);
        CHECK_INT(st.retries, 1);
        CHECK_INT(st.sent, 0);
    }
    /* the server comes up: the retry delivers it */
    struct smtp_sink *sink = NULL;
    CHECK_INT(smtp_sink_start(port, dir, &sink), 0);
    struct sink_want w = {sink, 1};
    CHECK(sink != NULL && run_until(sink_has, &w, 15000));
    CHECK(wait_row(to, "state", "sent", 10000));
    CHECK(row_is(to, "attempts", "2"));
    CHECK(row_is(to, "last_error <> ''", "true")); /* the failure stays on record */
    if (s != NULL) {
        mail_sender_get_stats(s, &st);
        CHECK_INT(st.sent, 1);
        CHECK_INT(st.retries, 1);
    }
    sender_stop(s);

    /* SMTP down for good: 'failed' after max_attempts */
    snprintf(to, sizeof(to), "giveup-%d@example.test", pid);
    CHECK_INT(enqueue(to, MAIL_LOGIN_CODE, p, N(p)), 0);
    s = sender_start(harness_free_port(), 50, 3, 0);
    CHECK(wait_row(to, "state", "failed", 15000));
    CHECK(row_is(to, "attempts", "3"));
    CHECK(row_is(to, "last_error <> ''", "true"));
    CHECK(row_is(to, "sent_at IS NULL", "true"));
    if (s != NULL) {
        mail_sender_get_stats(s, &st);
        CHECK_INT(st.failed, 1);
        CHECK_INT(st.retries, 2);
        CHECK_INT(st.sent, 0);
    }
    sender_stop(s);

    /* a recipient refused with 550 is a permanent failure: no retry */
    snprintf(to, sizeof(to), "reject-%d@example.test", pid);
    CHECK_INT(enqueue(to, MAIL_LOGIN_CODE, p, N(p)), 0);
    s = sender_start(port, 50, 5, 0);
    CHECK(wait_row(to, "state", "failed", 15000));
    CHECK(row_is(to, "attempts", "1"));
    CHECK(row_is(to, "last_error LIKE '%550%'", "true"));
    if (getenv("CITAS_TEST_VERBOSE")) {
        char *e = row_col(to, "last_error");
        fprintf(stderr, "550 recorded as: %s\n", e ? e : "(no row)");
        free(e);
    }
    if (s != NULL) {
        mail_sender_get_stats(s, &st);
        CHECK_INT(st.failed, 1);
        CHECK_INT(st.retries, 0);
    }
    sender_stop(s);

    /* a row written by hand with a header-breaking address is refused, not sent */
    char evil[128];
    snprintf(evil, sizeof(evil), "evil-%d@example.test>\r\nRCPT TO:<victim@example.test", pid);
    const char *ev[] = {evil};
    PQclear(PQexecParams(admin,
                         "INSERT INTO mail_outbox (to_addr, lang, kind, subject, body_text, body_html) "
                         "VALUES ($1, 'en', 'login_code', 's', 't', 'h')",
                         1, NULL, ev, NULL, NULL, 0));
    /* rows written by hand: template parameters that are not an object of strings (or lack a required
     * one) are refused, not sent; a row stored rendered (as before sql/012) is sent as it is */
    char badp[96], missing[96], rendered[96];
    snprintf(badp, sizeof(badp), "bad-params-%d@example.test", pid);
    snprintf(missing, sizeof(missing), "missing-param-%d@example.test", pid);
    snprintf(rendered, sizeof(rendered), "rendered-%d@example.test", pid);
    const char *hv[] = {badp, missing, rendered};
    PGresult *ins =
        PQexecParams(admin,
                     "INSERT INTO mail_outbox (to_addr, lang, kind, params, subject, body_text, "
                     "body_html) VALUES ($1, 'en', 'login_code', '{\"code\": 5, \"minutes\": \"10\"}', "
                     "NULL, NULL, NULL), ($2, 'es', 'login_code', '{\"minutes\": \"10\"}', NULL, NULL, "
                     "NULL), ($3, 'en', 'login_code', NULL, 'Stored subject', 'stored text 777', "
                     "'<p>stored html 777</p>')",
                     3, NULL, hv, NULL, NULL, 0);
    CHECK_INT(PQresultStatus(ins), PGRES_COMMAND_OK);
    PQclear(ins);
    s = sender_start(port, 50, 5, 0);
    CHECK(wait_row(evil, "state", "failed", 15000));
    CHECK(row_is(evil, "last_error LIKE 'invalid outbox row%'", "true"));
    CHECK(wait_row(badp, "state", "failed", 15000));
    CHECK(row_is(badp, "last_error LIKE 'invalid outbox row%'", "true"));
    CHECK(wait_row(missing, "state", "failed", 15000));
    CHECK(row_is(missing, "last_error LIKE 'invalid outbox row%'", "true"));
    CHECK(wait_row(rendered, "state", "sent", 15000));
    sender_stop(s);
    CHECK_INT(smtp_sink_count(sink), 2);
    smtp_sink_stop(sink);
}

/* ---- 3. leases ---------------------------------------------------------------------------------------- */

static void test_leases(const char *dir)
{
    const struct mail_param p[] = {{"code", "111222"}, {"minutes", "10"}};
    char dead[96], live[96], cut[96];
    snprintf(dead, sizeof(dead), "dead-lease-%d@example.test", pid);
    snprintf(live, sizeof(live), "live-lease-%d@example.test", pid);
    snprintf(cut, sizeof(cut), "cut-%d@example.test", pid);
    CHECK_INT(enqueue(dead, MAIL_VERIFY_CODE, p, N(p)), 0);
    CHECK_INT(enqueue(live, MAIL_VERIFY_CODE, p, N(p)), 0);
    const char *v[] = {dead, live};
    PQclear(
        PQexecParams(admin,
                     "UPDATE mail_outbox SET state = 'sending', attempts = 1, next_attempt_at = CASE to_addr "
                     "WHEN $1 THEN now() - interval '1 second' ELSE now() + interval '1 hour' END "
                     "WHERE to_addr IN ($1, $2)",
                     2, NULL, v, NULL, NULL, 0));
    CHECK(row_is(live, "state", "sending"));

    struct smtp_sink *sink = NULL;
    CHECK_INT(smtp_sink_start(0, dir, &sink), 0);
    if (sink == NULL)
        return;
    struct mail_sender *s = sender_start(smtp_sink_port(sink), 50, 5, 0);
    struct sink_want w = {sink, 1};
    CHECK(run_until(sink_has, &w, 15000));
    CHECK(wait_row(dead, "state", "sent", 10000));
    CHECK(row_is(dead, "attempts", "2"));
    run_for(300);
    CHECK_INT(smtp_sink_count(sink), 1);
    CHECK(row_is(live, "state", "sending"));
    CHECK(row_is(live, "attempts", "1"));
    sender_stop(s);

    /* destroyed mid-transfer: the row keeps its lease; a short lease lets the next sender take it */
    CHECK_INT(sql_exec("UPDATE mail_outbox SET state = 'failed' WHERE state <> 'sent'"), 0);
    CHECK_INT(enqueue(cut, MAIL_VERIFY_CODE, p, N(p)), 0);
    s = sender_start(smtp_sink_port(sink), 50, 5, 1000);
    struct mail_sender_stats st = {0};
    long long end = harness_now_ms() + 10000;
    while (s != NULL && st.in_flight == 0 && harness_now_ms() < end) {
        ring_run_once(ring, 5);
        mail_sender_get_stats(s, &st);
    }
    CHECK_INT(st.in_flight, 1);
    sender_stop(s);
    CHECK(row_is(cut, "state", "sending"));
    CHECK(row_is(cut, "attempts", "1"));
    unsigned long before = smtp_sink_count(sink);
    s = sender_start(smtp_sink_port(sink), 50, 5, 1000);
    CHECK(wait_row(cut, "state", "sent", 15000));
    CHECK(row_is(cut, "attempts", "2"));
    CHECK(smtp_sink_count(sink) >= before + 1); /* the cut transfer may or may not have reached it too */
    sender_stop(s);
    smtp_sink_stop(sink);
}

/* ---- 4. a loaded outbox: every message exactly once, every row 'sent' ---------------------------------- */

#define BULK 2000

/* Only n messages due, to "<tag>-<k>-<pid>@example.test" (k = 0..n-1): one queued, the rest copied in SQL. */
static void fill_outbox(const char *tag, int n, char *first, size_t cap)
{
    CHECK_INT(sql_exec("UPDATE mail_outbox SET state = 'failed' WHERE state IN ('pending', 'sending')"), 0);
    const struct mail_param p[] = {{"code", "424242"}, {"minutes", "10"}};
    char from[32], to[40], count[16];
    snprintf(first, cap, "%s-0-%d@example.test", tag, pid);
    CHECK_INT(enqueue(first, MAIL_LOGIN_CODE, p, N(p)), 0);
    snprintf(from, sizeof(from), "%s-0-", tag);
    snprintf(to, sizeof(to), "%s-", tag);
    snprintf(count, sizeof(count), "%d", n - 1);
    const char *v[] = {first, count, from, to};
    PGresult *r = PQexecParams(admin,
                               "INSERT INTO mail_outbox (to_addr, lang, kind, params) "
                               "SELECT replace(o.to_addr, $3, $4 || g || '-'), o.lang, o.kind, "
                               "o.params FROM mail_outbox o, "
                               "generate_series(1, $2::int) g WHERE o.to_addr = $1",
                               4, NULL, v, NULL, NULL, 0);
    CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
}

/* An SMTP sink writing to dir, and its URL in url; NULL (a failed check) if it cannot start. */
static struct smtp_sink *sink_at(const char *dir, char *url, size_t cap)
{
    struct smtp_sink *sink = NULL;
    CHECK_INT(smtp_sink_start(0, dir, &sink), 0);
    if (sink != NULL)
        snprintf(url, cap, "smtp://127.0.0.1:%d", smtp_sink_port(sink));
    return sink;
}

static void test_bulk(const char *dir)
{
    char first[96];
    fill_outbox("bulk", BULK, first, sizeof(first));
    CHECK_INT(sql_int("SELECT count(*) FROM mail_outbox WHERE to_addr LIKE 'bulk-%'", 0, NULL), BULK);

    char url[64];
    struct smtp_sink *sink = sink_at(dir, url, sizeof(url));
    if (sink == NULL)
        return;
    struct mail_config cfg = {
        .smtp_url = url,
        .smtp_starttls = CURL_CLIENT_STARTTLS_NONE,
        .smtp_timeout_ms = 30000,
        .from = "Citas Test <no-reply@citas.test>",
        .poll_ms = 50,
        .batch = 16, /* as in ops/citas.conf; max_in_flight: the default */
        .lease_ms = 120000,
    };
    struct mail_sender *s = NULL;
    long long t0 = harness_now_ms();
    CHECK_INT(mail_sender_create(ring, pool, curl, &cfg, &s), 0);
    struct sink_want w = {sink, BULK};
    CHECK(run_until(sink_has, &w, 90000));
    long long t1 = harness_now_ms();
    CHECK(wait_row(first, "(SELECT count(*) FROM mail_outbox WHERE state = 'sent' AND to_addr LIKE 'bulk-%')",
                   "2000", 30000));
    long long t2 = harness_now_ms();
    printf(
        "mail bulk: %d messages to smtp-sink in %lld ms (%.0f/s); all rows 'sent' after %lld ms (%.0f/s)\n",
        BULK, t1 - t0, BULK * 1000.0 / (double)(t1 - t0 + 1), t2 - t0, BULK * 1000.0 / (double)(t2 - t0 + 1));
    run_for(300); /* nothing more arrives */
    CHECK_INT(smtp_sink_count(sink), BULK);
    CHECK_INT(sql_int("SELECT count(*) FROM mail_outbox WHERE to_addr LIKE 'bulk-%' AND state = 'sent' AND "
                      "attempts = 1 AND sent_at IS NOT NULL AND last_error IS NULL",
                      0, NULL),
              BULK);
    struct mail_sender_stats st = {0};
    if (s != NULL)
        mail_sender_get_stats(s, &st);
    CHECK_INT(st.sent, BULK);
    CHECK_INT(st.in_flight, 0);
    CHECK_INT(st.db_errors, 0);
    sender_stop(s);
    smtp_sink_stop(sink);

    /* every recipient exactly once */
    static unsigned char seen[BULK];
    memset(seen, 0, sizeof(seen));
    int files = 0, bad = 0;
    DIR *dh = opendir(dir);
    struct dirent *de;
    while (dh != NULL && (de = readdir(dh)) != NULL) {
        if (strstr(de->d_name, ".eml") == NULL)
            continue;
        char path[1024], h[256];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct eml e;
        if (eml_load(path, &e) != 0) {
            bad++;
            continue;
        }
        eml_header(&e, "X-Sink-To", 0, h, sizeof(h));
        eml_free(&e);
        int k = -1, got = -1;
        if (sscanf(h, "<bulk-%d-%d@example.test>", &k, &got) == 2 && got == pid && k >= 0 && k < BULK &&
            seen[k] < 255)
            seen[k]++;
        else
            bad++;
        files++;
    }
    if (dh != NULL)
        closedir(dh);
    CHECK_INT(files, BULK);
    CHECK_INT(bad, 0);
    int once = 0;
    for (int k = 0; k < BULK; k++)
        once += seen[k] == 1;
    CHECK_INT(once, BULK);
}

/* ---- 5. yielding to requests: while busy, nothing for busy_pause_ms, then a trickle of at most
 * busy_max_in_flight; then full speed ---- */

#define BUSY_N 60

static int busy_flag;

static int busy_now(void *arg)
{
    return *(const int *)arg;
}

static void test_busy(const char *dir)
{
    char first[96];
    fill_outbox("busy", BUSY_N, first, sizeof(first));

    char url[64];
    struct smtp_sink *sink = sink_at(dir, url, sizeof(url));
    if (sink == NULL)
        return;
    busy_flag = 1;
    struct mail_config cfg = {
        .smtp_url = url,
        .smtp_starttls = CURL_CLIENT_STARTTLS_NONE,
        .from = "Citas Test <no-reply@citas.test>",
        .poll_ms = 20,
        .batch = 16,
        .lease_ms = 120000,
        .busy = busy_now,
        .busy_arg = &busy_flag,
        .busy_max_in_flight = 3,
        .busy_pause_ms = 1000,
    };
    struct mail_sender *s = NULL;
    CHECK_INT(mail_sender_create(ring, pool, curl, &cfg, &s), 0);
    if (s == NULL) {
        smtp_sink_stop(sink);
        return;
    }
    /* the busy spell's first second: no claim, nothing sent */
    struct mail_sender_stats st = {0};
    long long pause_end = harness_now_ms() + 700;
    while (harness_now_ms() < pause_end)
        ring_run_once(ring, 5);
    mail_sender_get_stats(s, &st);
    CHECK_INT(smtp_sink_count(sink), 0);
    CHECK_INT(st.busy_claims, 0);
    CHECK(st.busy_pauses >= 5); /* a poll every 20 ms */
    /* then busy: messages keep going out, never more than 3 at once */
    uint64_t most = 0;
    long long end = harness_now_ms() + 30000;
    while (smtp_sink_count(sink) < 20 && harness_now_ms() < end) {
        ring_run_once(ring, 5);
        mail_sender_get_stats(s, &st);
        most = st.in_flight > most ? st.in_flight : most;
    }
    CHECK(smtp_sink_count(sink) >= 20);
    CHECK(most >= 1 && most <= 3);
    CHECK(st.busy_claims >= 7); /* 20 messages, 3 rows a claim at most */
    /* no longer busy: full batches, many at once, the rest */
    busy_flag = 0;
    uint64_t claims = st.busy_claims;
    most = 0;
    end = harness_now_ms() + 30000;
    while (smtp_sink_count(sink) < BUSY_N && harness_now_ms() < end) {
        ring_run_once(ring, 5);
        mail_sender_get_stats(s, &st);
        most = st.in_flight > most ? st.in_flight : most;
    }
    CHECK_INT(smtp_sink_count(sink), BUSY_N);
    CHECK(most > 3);
    CHECK_INT(st.busy_claims, claims);
    CHECK(wait_row(first,
                   "(SELECT count(*) FROM mail_outbox WHERE state = 'sent' AND attempts = 1 AND to_addr LIKE "
                   "'busy-%')",
                   "60", 10000));
    sender_stop(s);
    smtp_sink_stop(sink);
}

static void mkdir_sub(char *out, size_t n, const char *tmp, const char *name)
{
    snprintf(out, n, "%s/mail-%d-%s", tmp, pid, name);
    mkdir(out, 0700);
}

int main(void)
{
    pid = (int)getpid();
    const char *dsn = harness_env("CITAS_TEST_PG_DSN");
    const char *tmp = harness_env("CITAS_TEST_TMPDIR");
    snprintf(schema, sizeof(schema), "mail_test_%d", pid);

    admin = PQconnectdb(dsn);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(admin));
        CHECK(0);
        PQfinish(admin);
        return harness_finish("mail");
    }
    char q[512];
    snprintf(q, sizeof(q),
             "SET client_min_messages = warning; CREATE SCHEMA %s; SET search_path = %s; "
             "CREATE TABLE mail_outbox (LIKE public.mail_outbox INCLUDING ALL); "
             "CREATE TABLE side (id int PRIMARY KEY)",
             schema, schema);
    CHECK_INT(sql_exec(q), 0);

    char pool_dsn[1024];
    snprintf(pool_dsn, sizeof(pool_dsn), "%s options='-csearch_path=%s'", dsn, schema);
    h2o_evloop_t *loop = h2o_evloop_create();
    CHECK_INT(curl_client_global_init(), 0);
    CHECK_INT(ring_create(loop, 256, &ring), 0);
    struct pg_pool_config pc = {.conninfo = pool_dsn, .size = 2};
    CHECK_INT(pg_pool_create(ring, &pc, &pool), 0);
    CHECK_INT(curl_client_create(ring, NULL, &curl), 0);

    /* creation checks */
    struct mail_sender *bad = NULL;
    struct mail_config cfg = {.smtp_url = NULL};
    CHECK_INT(mail_sender_create(ring, pool, curl, &cfg, &bad), -22);
    cfg.smtp_url = "smtp://127.0.0.1:1";
    cfg.from = "citas <not-an-address>";
    CHECK_INT(mail_sender_create(ring, pool, curl, &cfg, &bad), -22);
    CHECK(bad == NULL);
    mail_sender_destroy(NULL);

    char d1[512], d2[512], d3[512], d4[512], d5[512];
    mkdir_sub(d1, sizeof(d1), tmp, "delivery");
    mkdir_sub(d2, sizeof(d2), tmp, "retries");
    mkdir_sub(d3, sizeof(d3), tmp, "leases");
    mkdir_sub(d4, sizeof(d4), tmp, "bulk");
    mkdir_sub(d5, sizeof(d5), tmp, "busy");
    if (ring != NULL && pool != NULL && curl != NULL) {
        test_delivery(d1);
        test_retries(d2);
        test_leases(d3);
        test_bulk(d4);
        test_busy(d5);
    }

    curl_client_destroy(curl);
    pg_pool_destroy(pool);
    run_for(50);
    ring_destroy(ring);
    h2o_evloop_destroy(loop);
    curl_client_global_cleanup();
    snprintf(q, sizeof(q), "RESET search_path; DROP SCHEMA %s CASCADE", schema);
    CHECK_INT(sql_exec(q), 0);
    PQfinish(admin);
    return harness_finish("mail");
}
