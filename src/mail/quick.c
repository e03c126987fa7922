/*
 * The quick queue: short-lived messages (one-time codes) through a Redis list instead of the outbox.
 *
 * mail_quick_enqueue() renders the message and RPUSHes it onto MAIL_QUICK_LIST as one binary-safe string:
 * "q1" NUL attempts NUL to NUL lang NUL kind NUL subject NUL text NUL html (the rendered strings hold no
 * NUL). The drainer (one per process, next to the outbox sender) pops up to `batch` entries at a time
 * (LPOP key count) while fewer than max_in_flight transfers run, sends each at once, and pops again at
 * once after a full pop, else after poll_ms. A transfer that fails for a reason SMTP may not repeat is
 * pushed back (attempts + 1) until max_attempts; a permanent refusal (5xx) drops it.
 *
 * Why not the outbox: a login code lives minutes; the outbox made every login one PostgreSQL commit and
 * every sent message two more, which held the opening-day surge to ~1,250 commits/s in all. Delivery here
 * is at most once: an entry popped by a process that dies, or lost with Redis, is not sent, and the citizen
 * logs in again for a new code.
 */
#include "citas/mail.h"
#include "citas/redis.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FIELDS 8 /* "q1", attempts, to, lang, kind, subject, text, html */

struct quick_timer {
    struct ring_op op;
    struct mail_quick *q; /* NULL once the drainer is gone */
};

struct quick_msg {
    struct mail_quick *q;
    struct quick_msg *next;
    struct curl_client_transfer *t;
    char *entry; /* the list entry, to push back on a transient failure */
    size_t len;
    int attempts;
};

struct mail_quick {
    struct ring *ring;
    struct redis_client *redis;
    struct curl_client *curl;
    struct mail_config cfg;
    struct mail_smtp smtp;
    struct quick_timer *timer;
    int timer_armed, popping, pop_full;
    uint32_t asked; /* entries the pop in flight asked for */
    uint64_t seq;
    struct quick_msg *sending;
    struct mail_quick_stats stats;
};

/* --- queueing --- */

struct enqueue_ctx {
    mail_quick_cb cb;
    void *ctx;
};

static void on_pushed(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct enqueue_ctx e = *(struct enqueue_ctx *)ctx;
    free(ctx);
    if (e.cb != NULL)
        e.cb(err == NULL && reply != NULL && reply->type == REDIS_REPLY_INTEGER ? 0 : -EIO, e.ctx);
}

static int entry_build(const struct mail_rendered *r, const struct mail_message *m, int attempts,
                       struct mail_buf *b)
{
    char att[12];
    snprintf(att, sizeof(att), "%d", attempts);
    const char *f[FIELDS] = {"q1",       att,     m->to,  m->lang, mail_kind_name(m->kind),
                             r->subject, r->text, r->html};
    for (int i = 0; i < FIELDS; i++)
        mail_buf_add(b, f[i], strlen(f[i]) + (i + 1 < FIELDS)); /* NUL between fields */
    return b->err;
}

int mail_quick_enqueue(struct redis_client *redis, const struct mail_message *m, mail_quick_cb cb, void *ctx)
{
    if (redis == NULL || m == NULL || m->to == NULL || !mail_addr_ok(m->to) || m->attachment != NULL ||
        mail_kind_name(m->kind) == NULL)
        return -EINVAL;
    struct mail_rendered r;
    int rc = mail_render(m->kind, m->lang, m->params, m->nparams, &r);
    if (rc != 0)
        return rc;
    struct mail_buf b = {0};
    struct enqueue_ctx *e = malloc(sizeof(*e));
    rc = e == NULL ? -ENOMEM : entry_build(&r, m, 0, &b);
    mail_rendered_free(&r);
    if (rc == 0) {
        *e = (struct enqueue_ctx){cb, ctx};
        const char *argv[] = {"RPUSH", MAIL_QUICK_LIST, b.p};
        size_t lens[] = {5, strlen(MAIL_QUICK_LIST), b.len};
        rc = redis_command(redis, on_pushed, e, 3, argv, lens);
    }
    if (rc != 0)
        free(e);
    mail_buf_free(&b);
    return rc;
}

/* --- draining --- */

static void pop(struct mail_quick *q);

static void arm(struct mail_quick *q, uint64_t ms)
{
    if (!q->timer_armed && ring_timeout(q->ring, &q->timer->op, ms) == 0)
        q->timer_armed = 1;
}

static void on_timer(struct ring_op *op, int res)
{
    (void)res;
    struct quick_timer *t = op->data;
    if (t->q == NULL) {
        free(t);
        return;
    }
    t->q->timer_armed = 0;
    pop(t->q);
}

static void on_ignored(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c, (void)reply, (void)err, (void)ctx;
}

/* Pushes m's entry back with one more attempt (at the tail: the queue keeps moving). */
static void push_back(struct mail_quick *q, struct quick_msg *m)
{
    char *p = memchr(m->entry, '\0', m->len); /* after "q1" */
    char *rest = p != NULL ? memchr(p + 1, '\0', m->len - (size_t)(p + 1 - m->entry)) : NULL;
    if (rest == NULL)
        return;
    struct mail_buf b = {0};
    char att[12];
    snprintf(att, sizeof(att), "%d", m->attempts + 1);
    mail_buf_add(&b, "q1", 3);
    mail_buf_add(&b, att, strlen(att));
    mail_buf_add(&b, rest, m->len - (size_t)(rest - m->entry));
    const char *argv[] = {"RPUSH", MAIL_QUICK_LIST, b.p};
    size_t lens[] = {5, strlen(MAIL_QUICK_LIST), b.len};
    if (b.err == 0 && redis_command(q->redis, on_ignored, NULL, 3, argv, lens) == 0)
        q->stats.retries++;
    else
        q->stats.failed++;
    mail_buf_free(&b);
}

static void msg_free(struct quick_msg *m)
{
    free(m->entry);
    free(m);
}

static void on_sent(const struct curl_client_result *res, void *ctx)
{
    struct quick_msg *m = ctx;
    struct mail_quick *q = m->q;
    if (q == NULL) { /* mail_quick_destroy() cancelled it */
        msg_free(m);
        return;
    }
    for (struct quick_msg **p = &q->sending; *p != NULL; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            break;
        }
    q->stats.in_flight--;
    if (res->error == 0)
        q->stats.sent++;
    else if ((res->status >= 500 && res->status < 600) || (uint32_t)m->attempts + 1 >= q->cfg.max_attempts)
        q->stats.failed++;
    else
        push_back(q, m);
    msg_free(m);
    if (q->pop_full)
        pop(q);
}

/* Splits a NUL-terminated entry of len bytes into its FIELDS strings; 0 or -EINVAL. */
static int entry_split(const char *e, size_t len, const char *f[FIELDS])
{
    size_t k = 0;
    f[k++] = e;
    for (size_t i = 0; i < len; i++)
        if (e[i] == '\0') {
            if (k == FIELDS)
                return -EINVAL;
            f[k++] = e + i + 1;
        }
    return k == FIELDS && strcmp(f[0], "q1") == 0 ? 0 : -EINVAL;
}

static void send_entry(struct mail_quick *q, const char *data, size_t len)
{
    struct quick_msg *m = calloc(1, sizeof(*m));
    char *e = m != NULL ? malloc(len + 1) : NULL;
    if (e == NULL) {
        free(m);
        q->stats.failed++;
        return;
    }
    memcpy(e, data, len);
    e[len] = '\0';
    m->q = q;
    m->entry = e;
    m->len = len;
    const char *f[FIELDS];
    int rc = entry_split(e, len, f);
    struct mail_buf b = {0};
    if (rc == 0) {
        m->attempts = atoi(f[1]);
        if (!mail_addr_ok(f[2]))
            rc = -EINVAL;
    }
    if (rc == 0) {
        char msgid[128];
        snprintf(msgid, sizeof(msgid), "q%llu.%lld@%s", (unsigned long long)++q->seq, (long long)time(NULL),
                 q->smtp.domain);
        struct mail_mime_in in = {.from = q->smtp.from,
                                  .to = f[2],
                                  .message_id = msgid,
                                  .lang = f[3],
                                  .kind = f[4],
                                  .subject = f[5],
                                  .text = f[6],
                                  .html = f[7],
                                  .date = (int64_t)time(NULL)};
        rc = mail_mime_build(&in, &b);
    }
    if (rc == 0)
        rc = mail_smtp_send(q->curl, &q->smtp, f[2], &b, on_sent, m, &m->t);
    mail_buf_free(&b);
    if (rc == 0) {
        m->next = q->sending;
        q->sending = m;
        q->stats.in_flight++;
        return;
    }
    q->stats.failed++; /* a malformed entry, or no transfer could start */
    msg_free(m);
}

static void on_popped(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct mail_quick *q = ctx;
    q->popping = 0;
    if (err != NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY) { /* nil: the list is empty */
        if (err != NULL)
            q->stats.redis_errors++;
        q->pop_full = 0;
        arm(q, q->cfg.poll_ms);
        return;
    }
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING)
            send_entry(q, reply->element[i]->str, reply->element[i]->len);
    q->pop_full = reply->elements >= q->asked;
    if (q->pop_full)
        pop(q);
    else
        arm(q, q->cfg.poll_ms);
}

static void pop(struct mail_quick *q)
{
    if (q->popping)
        return; /* its reply pops again or arms the timer */
    if (q->stats.in_flight >= q->cfg.max_in_flight) {
        q->pop_full = 1; /* the next finished transfer pops again */
        return;
    }
    uint64_t room = q->cfg.max_in_flight - q->stats.in_flight;
    q->asked = (uint32_t)(room < q->cfg.batch ? room : q->cfg.batch);
    char n[16];
    snprintf(n, sizeof(n), "%u", (unsigned)q->asked);
    const char *argv[] = {"LPOP", MAIL_QUICK_LIST, n};
    if (redis_command(q->redis, on_popped, q, 3, argv, NULL) == 0) {
        q->popping = 1;
    } else {
        q->stats.redis_errors++;
        arm(q, q->cfg.poll_ms);
    }
}

int mail_quick_create(struct ring *ring, struct redis_client *redis, struct curl_client *curl,
                      const struct mail_config *cfg, struct mail_quick **out)
{
    if (ring == NULL || redis == NULL || curl == NULL || cfg == NULL || out == NULL)
        return -EINVAL;
    struct mail_quick *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return -ENOMEM;
    int rc = mail_smtp_init(&q->smtp, cfg);
    if (rc != 0) {
        free(q);
        return rc;
    }
    q->ring = ring;
    q->redis = redis;
    q->curl = curl;
    q->cfg = *cfg;
    mail_config_defaults(&q->cfg);
    q->timer = calloc(1, sizeof(*q->timer));
    if (q->timer == NULL) {
        mail_quick_destroy(q);
        return -ENOMEM;
    }
    q->timer->q = q;
    q->timer->op.cb = on_timer;
    q->timer->op.data = q->timer;
    arm(q, 1);
    *out = q;
    return 0;
}

void mail_quick_destroy(struct mail_quick *q)
{
    if (q == NULL)
        return;
    while (q->sending != NULL) { /* entries being sent are lost (at most once) */
        struct quick_msg *m = q->sending;
        m->q = NULL;
        q->sending = m->next;
        curl_client_cancel(m->t);
    }
    redis_detach(q->redis, q);
    if (q->timer != NULL && q->timer_armed) { /* on_timer frees it when the ring hands the op back */
        q->timer->q = NULL;
        ring_cancel(q->ring, &q->timer->op);
    } else {
        free(q->timer);
    }
    mail_smtp_free(&q->smtp);
    free(q);
}

void mail_quick_get_stats(const struct mail_quick *q, struct mail_quick_stats *out)
{
    *out = q->stats;
}
