/*
 * The sender: a timer-driven loop on one ring.
 *
 *   IDLE --timer--> CLAIM (UPDATE ... RETURNING a batch) --rows--> SEND (one SMTP transfer per row, all
 *   at once) --each result--> MARK (sent / retry / failed).
 *
 * Claims are pipelined: a full batch is followed by more claims at once (up to CLAIMS_MAX in flight),
 * while its transfers still run, as long as the transfers running plus a batch per claim in flight stay
 * within max_in_flight; a short batch waits poll_ms. When a transfer ends after a full batch, the claims
 * that the cap held back go out. Marks are grouped: a sent message joins a list, and the list is written in
 * one UPDATE (unnest of ids and attempt numbers) whenever no such UPDATE is in flight, so under load one
 * commit marks everything that finished during the previous one. Retries and failures, rare, are marked one
 * by one.
 *
 * Every outbox statement carries the sender as its pg ctx, so destroy can forget them all at once. A
 * claimed row is marked only if it is still ours: state 'sending' with the attempt number we claimed,
 * so a late answer cannot overwrite a row that another process claimed again after the lease.
 * Delivery is at least once: a message accepted by SMTP whose mark is lost is sent again after the lease.
 */
#include "citas/json.h"
#include "citas/mail.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char claim_sql[] =
    "UPDATE mail_outbox SET state = 'sending', attempts = attempts + 1, "
    "next_attempt_at = now() + $2::bigint * interval '1 millisecond' "
    "WHERE id IN (SELECT id FROM mail_outbox WHERE state IN ('pending', 'sending') AND next_attempt_at <= "
    "now() "
    "ORDER BY next_attempt_at, id LIMIT $1::int FOR UPDATE SKIP LOCKED) "
    "RETURNING id, attempts, to_addr, lang, kind, subject, body_text, body_html, attachment_name, "
    "attachment_type, encode(attachment_data, 'hex'), "
    "(extract(epoch FROM created_at) * 1000000)::bigint, params::text";
static const char sent_sql[] = "UPDATE mail_outbox o SET state = 'sent', sent_at = now() "
                               "FROM unnest($1::bigint[], $2::int[]) AS m(id, attempts) "
                               "WHERE o.id = m.id AND o.state = 'sending' AND o.attempts = m.attempts";
static const char retry_sql[] =
    "UPDATE mail_outbox SET state = 'pending', next_attempt_at = now() + $3::bigint * interval '1 "
    "millisecond', "
    "last_error = $4 WHERE id = $1::bigint AND state = 'sending' AND attempts = $2::int";
static const char failed_sql[] = "UPDATE mail_outbox SET state = 'failed', last_error = $3 "
                                 "WHERE id = $1::bigint AND state = 'sending' AND attempts = $2::int";
static const char count_sql[] = "SELECT count(*) FROM mail_outbox WHERE state IN ('pending', 'sending')";

#define COUNT_EVERY_MS 1000
#define CLAIMS_MAX     4 /* claim queries in flight at once */

/* The poll timer lives apart so that it can outlive the sender until the ring hands back its op. */
struct sender_timer {
    struct ring_op op;
    struct mail_sender *s; /* NULL once the sender is gone */
};

struct outmsg {
    struct mail_sender *s;
    struct outmsg *next;
    struct curl_client_transfer *t; /* while the transfer runs */
    char id[24];
    int attempts;
};

struct mail_sender {
    struct ring *ring;
    struct pg_pool *pg;
    struct curl_client *curl;
    struct mail_config cfg;
    struct mail_smtp smtp;
    struct sender_timer *timer;
    int timer_armed;
    unsigned claims;                         /* claim queries in flight */
    uint32_t claim_limit;                    /* rows the last claim asked for */
    int claim_full;                          /* the last claim got all it asked for: more may be due */
    int flushing;                            /* the grouped 'sent' UPDATE is in flight */
    struct mail_buf sent_ids, sent_attempts; /* "1,2,..." waiting for the next flush */
    unsigned sent_n;
    int counting;
    int closing;
    uint64_t last_count_ms;
    uint64_t busy_since_ms; /* when the current busy spell began (ring time), 0 when not busy */
    struct outmsg *sending; /* transfers in flight */
    struct mail_sender_stats stats;
};

static void claim(struct mail_sender *s);

static void arm(struct mail_sender *s, uint64_t ms)
{
    if (s->timer_armed)
        return;
    if (ring_timeout(s->ring, &s->timer->op, ms) == 0)
        s->timer_armed = 1;
}

static void on_timer(struct ring_op *op, int res)
{
    (void)res;
    struct sender_timer *t = op->data;
    if (t->s == NULL) {
        free(t);
        return;
    }
    t->s->timer_armed = 0;
    claim(t->s);
}

static void on_marked(const struct pg_reply *r, void *ctx)
{
    struct mail_sender *s = ctx;
    if (r->status != PG_OK)
        s->stats.db_errors++;
}

static void flush(struct mail_sender *s);

static void on_flushed(const struct pg_reply *r, void *ctx)
{
    struct mail_sender *s = ctx;
    s->flushing = 0;
    if (r->status != PG_OK) /* those rows stay 'sending' and are sent again after the lease */
        s->stats.db_errors++;
    flush(s);
}

/* Writes every collected 'sent' mark in one statement, unless one is in flight (its reply flushes again). */
static void flush(struct mail_sender *s)
{
    if (s->flushing || s->sent_n == 0 || s->closing)
        return;
    struct mail_buf ids = {0}, att = {0};
    int rc = s->sent_ids.err ? s->sent_ids.err : s->sent_attempts.err;
    if (rc == 0) {
        mail_buf_printf(&ids, "{%s}", s->sent_ids.p);
        mail_buf_printf(&att, "{%s}", s->sent_attempts.p);
        rc = ids.err ? ids.err : att.err;
    }
    if (rc == 0) {
        const char *v[] = {ids.p, att.p};
        rc = pg_query(s->pg, sent_sql, 2, v, on_flushed, s);
    }
    if (rc == 0)
        s->flushing = 1;
    else /* the rows stay 'sending' and are sent again after the lease */
        s->stats.db_errors++;
    mail_buf_free(&ids);
    mail_buf_free(&att);
    mail_buf_free(&s->sent_ids);
    mail_buf_free(&s->sent_attempts);
    s->sent_n = 0;
}

static void mark(struct mail_sender *s, const struct outmsg *m, int ok, int permanent, const char *error)
{
    char attempts[16], delay[24];
    snprintf(attempts, sizeof(attempts), "%d", m->attempts);
    int rc;
    if (ok) {
        s->stats.sent++;
        mail_buf_printf(&s->sent_ids, "%s%s", s->sent_n ? "," : "", m->id);
        mail_buf_printf(&s->sent_attempts, "%s%s", s->sent_n ? "," : "", attempts);
        s->sent_n++;
        flush(s);
        return;
    } else if (permanent || (uint32_t)m->attempts >= s->cfg.max_attempts) {
        s->stats.failed++;
        const char *v[] = {m->id, attempts, error};
        rc = pg_query(s->pg, failed_sql, 3, v, on_marked, s);
    } else {
        s->stats.retries++;
        uint64_t d = s->cfg.retry_base_ms;
        for (int i = 1; i < m->attempts && d < s->cfg.retry_max_ms; i++)
            d *= 2;
        if (d > s->cfg.retry_max_ms)
            d = s->cfg.retry_max_ms;
        snprintf(delay, sizeof(delay), "%llu", (unsigned long long)d);
        const char *v[] = {m->id, attempts, delay, error};
        rc = pg_query(s->pg, retry_sql, 4, v, on_marked, s);
    }
    if (rc != 0) /* the row stays 'sending' and is retried after the lease */
        s->stats.db_errors++;
}

static void unlink_msg(struct mail_sender *s, struct outmsg *m)
{
    for (struct outmsg **p = &s->sending; *p != NULL; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            break;
        }
}

static void on_sent(const struct curl_client_result *res, void *ctx)
{
    struct outmsg *m = ctx;
    struct mail_sender *s = m->s;
    unlink_msg(s, m);
    s->stats.in_flight--;
    if (s->closing) {
        free(m);
        return;
    }
    char error[400] = "";
    if (res->error != 0)
        snprintf(error, sizeof(error), "%s (errno %d, curl %d, smtp %ld)",
                 res->error_text && res->error_text[0] ? res->error_text : strerror(-res->error), -res->error,
                 res->curl_code, res->status);
    /* 5xx is a permanent refusal (RFC 5321 4.2.1): retrying cannot help */
    int permanent = res->error != 0 && res->status >= 500 && res->status < 600;
    mark(s, m, res->error == 0, permanent, error);
    free(m);
    /* after a full claim the next one waits only for room under the in-flight cap: there is room now */
    if (s->claim_full)
        claim(s);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Printable ASCII without quotes or backslashes, and not empty. */
static int header_safe(const char *v)
{
    if (*v == '\0')
        return 0;
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || (unsigned char)*v >= 0x7f || *v == '"' || *v == '\\')
            return 0;
    return 1;
}

/* A row queued with its template's parameters (subject NULL): renders them into *out. 0 or -EINVAL
 * (parameters that are not one JSON object of strings, an unknown kind, or what mail_render() refuses) or
 * -ENOMEM. */
static int render_row(const PGresult *res, int i, struct mail_rendered *out)
{
    *out = (struct mail_rendered){0};
    enum mail_kind kind;
    if (PQgetisnull(res, i, 12) || mail_kind_parse(PQgetvalue(res, i, 4), &kind) != 0)
        return -EINVAL;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    const char *json = PQgetvalue(res, i, 12);
    const struct json_value *v = json_parse(&pool, json, strlen(json), NULL, NULL);
    int rc = v != NULL && v->type == JSON_OBJECT ? 0 : -EINVAL;
    struct mail_param *params = NULL;
    if (rc == 0 && v->len > 0)
        params = h2o_mem_alloc_pool(&pool, sizeof(*params) * v->len);
    for (size_t k = 0; rc == 0 && k < v->len; k++) {
        if (v->items[k]->type != JSON_STRING)
            rc = -EINVAL;
        else
            params[k] = (struct mail_param){v->keys[k], v->items[k]->str};
    }
    if (rc == 0)
        rc = mail_render(kind, PQgetvalue(res, i, 3), params, v->len, out);
    h2o_mem_clear_pool(&pool);
    return rc;
}

/* Builds and starts the transfer of row i; on failure marks the attempt failed. */
static void send_row(struct mail_sender *s, const PGresult *res, int i)
{
    struct outmsg *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        s->stats.db_errors++; /* the row waits for its lease */
        return;
    }
    m->s = s;
    snprintf(m->id, sizeof(m->id), "%s", PQgetvalue(res, i, 0));
    m->attempts = atoi(PQgetvalue(res, i, 1));
    if ((uint32_t)m->attempts > s->cfg.max_attempts) { /* claimed again after the last attempt's lease */
        mark(s, m, 0, 1, "no answer from the last attempt before its lease expired");
        free(m);
        return;
    }

    const char *hex = PQgetisnull(res, i, 10) ? NULL : PQgetvalue(res, i, 10);
    size_t att_len = hex ? strlen(hex) / 2 : 0;
    unsigned char *att = malloc(att_len + 1);
    int rc = att ? 0 : -ENOMEM;
    for (size_t k = 0; rc == 0 && k < att_len; k++) {
        int hi = hexval(hex[2 * k]), lo = hexval(hex[2 * k + 1]);
        if (hi < 0 || lo < 0)
            rc = -EINVAL;
        else
            att[k] = (unsigned char)(hi << 4 | lo);
    }
    struct mail_rendered r = {0};
    if (rc == 0 && PQgetisnull(res, i, 5)) /* stored as parameters: rendered now */
        rc = render_row(res, i, &r);
    char msgid[128];
    snprintf(msgid, sizeof(msgid), "%s.%s@%s", m->id, PQgetvalue(res, i, 11), s->smtp.domain);
    struct mail_mime_in in = {
        .from = s->smtp.from,
        .to = PQgetvalue(res, i, 2),
        .message_id = msgid,
        .lang = PQgetvalue(res, i, 3),
        .kind = PQgetvalue(res, i, 4),
        .subject = r.subject != NULL ? r.subject : PQgetvalue(res, i, 5),
        .text = r.text != NULL ? r.text : PQgetvalue(res, i, 6),
        .html = r.html != NULL ? r.html : PQgetvalue(res, i, 7),
        .att_name = PQgetisnull(res, i, 8) || hex == NULL ? NULL : PQgetvalue(res, i, 8),
        .att_type = PQgetvalue(res, i, 9),
        .att_data = att,
        .att_len = att_len,
        .date = (int64_t)time(NULL),
    };
    /* rows may be written by hand: nothing from one may break out of its header or SMTP command */
    if (rc == 0 && (!mail_addr_ok(in.to) || !header_safe(in.lang) || !header_safe(in.kind) ||
                    (in.att_name != NULL && (!header_safe(in.att_name) || !header_safe(in.att_type)))))
        rc = -EINVAL;
    struct mail_buf b = {0};
    if (rc == 0)
        rc = mail_mime_build(&in, &b);
    free(att);
    mail_rendered_free(&r);
    if (rc == 0)
        rc = mail_smtp_send(s->curl, &s->smtp, in.to, &b, on_sent, m, &m->t);
    mail_buf_free(&b);
    if (rc == 0) {
        m->next = s->sending;
        s->sending = m;
        s->stats.in_flight++;
        return;
    }
    char error[128];
    snprintf(error, sizeof(error), "%s: %s",
             rc == -EINVAL ? "invalid outbox row" : "could not start the transfer", strerror(-rc));
    mark(s, m, 0, rc == -EINVAL, error);
    free(m);
}

static void on_claimed(const struct pg_reply *r, void *ctx)
{
    struct mail_sender *s = ctx;
    s->claims--;
    if (r->status != PG_OK || r->nresults != 1) {
        s->stats.db_errors++;
        s->claim_full = 0;
        arm(s, s->cfg.poll_ms);
        return;
    }
    const PGresult *res = r->results[0];
    int n = PQntuples(res);
    if (n == 0 || PQnfields(res) != 13) {
        s->claim_full = 0;
        arm(s, s->cfg.poll_ms);
        return;
    }
    s->claim_full = (unsigned)n >= s->claim_limit;
    for (int i = 0; i < n; i++)
        send_row(s, res, i);
    /* a full batch: more may be due, claim again at once (claim() waits while the in-flight cap is
     * reached; a transfer that frees room claims then); a short one: the next poll */
    if (s->claim_full)
        claim(s);
    else
        arm(s, s->cfg.poll_ms);
}

static void on_counted(const struct pg_reply *r, void *ctx)
{
    struct mail_sender *s = ctx;
    s->counting = 0;
    if (r->status == PG_OK && r->nresults == 1 && PQntuples(r->results[0]) == 1)
        s->stats.pending = strtoull(PQgetvalue(r->results[0], 0, 0), NULL, 10);
    else
        s->stats.db_errors++;
}

static void claim(struct mail_sender *s)
{
    uint64_t now = ring_now(s->ring);
    if (!s->counting && now - s->last_count_ms >= COUNT_EVERY_MS) {
        s->last_count_ms = now;
        if (pg_query(s->pg, count_sql, 0, NULL, on_counted, s) == 0)
            s->counting = 1;
    }
    /* a poll sends one claim; while batches come back full, up to CLAIMS_MAX run at once (SKIP LOCKED
     * gives them disjoint rows), each counted as a whole batch against the in-flight cap */
    unsigned want = s->claim_full ? CLAIMS_MAX : 1;
    uint32_t batch = s->cfg.batch, cap = s->cfg.max_in_flight;
    int busy = s->cfg.busy != NULL && s->cfg.busy_max_in_flight > 0 && s->cfg.busy(s->cfg.busy_arg);
    if (!busy) {
        s->busy_since_ms = 0;
    } else {
        if (s->busy_since_ms == 0)
            s->busy_since_ms = now;
        if (now - s->busy_since_ms < s->cfg.busy_pause_ms) { /* the first moments of a busy spell: nothing */
            s->stats.busy_pauses++;
            arm(s, s->cfg.poll_ms);
            return;
        }
    }
    if (busy) { /* the server is busy with requests: a trickle (a transfer that ends claims again) */
        cap = s->cfg.busy_max_in_flight;
        batch = batch < cap ? batch : cap;
    }
    char limit[16], lease[24];
    snprintf(limit, sizeof(limit), "%u", batch);
    snprintf(lease, sizeof(lease), "%u", s->cfg.lease_ms);
    const char *v[] = {limit, lease};
    while (s->claims < want && s->stats.in_flight + (uint64_t)(s->claims + 1) * batch <= cap) {
        if (pg_query(s->pg, claim_sql, 2, v, on_claimed, s) != 0) {
            s->stats.db_errors++;
            arm(s, s->cfg.poll_ms);
            return;
        }
        s->claims++;
        s->claim_limit = batch;
        s->stats.busy_claims += (uint64_t)busy;
    }
}

int mail_sender_create(struct ring *ring, struct pg_pool *pg, struct curl_client *curl,
                       const struct mail_config *cfg, struct mail_sender **out)
{
    if (ring == NULL || pg == NULL || curl == NULL || cfg == NULL || out == NULL)
        return -EINVAL;
    struct mail_sender *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    int rc = mail_smtp_init(&s->smtp, cfg);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->ring = ring;
    s->pg = pg;
    s->curl = curl;
    s->cfg = *cfg;
    s->timer = calloc(1, sizeof(*s->timer));
    if (s->timer == NULL) {
        mail_sender_destroy(s);
        return -ENOMEM;
    }
    s->timer->s = s;
    s->timer->op.cb = on_timer;
    s->timer->op.data = s->timer;
    struct mail_config *c = &s->cfg;
    mail_config_defaults(c);
    c->retry_base_ms = c->retry_base_ms ? c->retry_base_ms : 5000;
    c->retry_max_ms = c->retry_max_ms ? c->retry_max_ms : 600000;
    c->lease_ms = c->lease_ms ? c->lease_ms : 120000;
    if (c->retry_max_ms < c->retry_base_ms)
        c->retry_max_ms = c->retry_base_ms;
    s->last_count_ms = ring_now(ring) - COUNT_EVERY_MS;
    arm(s, 1);
    *out = s;
    return 0;
}

void mail_sender_destroy(struct mail_sender *s)
{
    if (s == NULL)
        return;
    s->closing = 1;
    while (s->sending != NULL) /* on_sent unlinks and frees */
        curl_client_cancel(s->sending->t);
    pg_forget(s->pg, s); /* marks not yet written: those rows are sent again after the lease */
    mail_buf_free(&s->sent_ids);
    mail_buf_free(&s->sent_attempts);
    if (s->timer != NULL && s->timer_armed) { /* on_timer frees it when the ring hands the op back */
        s->timer->s = NULL;
        ring_cancel(s->ring, &s->timer->op);
    } else {
        free(s->timer);
    }
    mail_smtp_free(&s->smtp);
    free(s);
}

int mail_starttls_parse(const char *s, enum curl_client_starttls *out)
{
    if (s != NULL && strcmp(s, "none") == 0)
        *out = CURL_CLIENT_STARTTLS_NONE;
    else if (s != NULL && strcmp(s, "try") == 0)
        *out = CURL_CLIENT_STARTTLS_TRY;
    else if (s != NULL && strcmp(s, "required") == 0)
        *out = CURL_CLIENT_STARTTLS_REQUIRED;
    else
        return -EINVAL;
    return 0;
}

void mail_sender_get_stats(const struct mail_sender *s, struct mail_sender_stats *out)
{
    *out = s->stats;
}
