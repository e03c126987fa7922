/*
 * What a booking needs besides the slot, cached so that losing attempts stay off PostgreSQL:
 *  - the account's document, email, language and name: Redis hash bk:acct:<id> (TTL booking_account_cache_s),
 *    filled from PostgreSQL on a miss (once per account per TTL, whatever the surge);
 *  - the office of a slot id (the API's slot ids are global; Redis keys need the office's hash tag): a
 *    per-worker table filled from PostgreSQL, one query per unknown slot however many requests wait for it
 *    (unknown ids are remembered for a few seconds); only attempts past the captcha get here;
 *  - office and procedure names for the confirmation (winners only), per worker, five minutes.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- accounts --- */

struct acct_load {
    struct bk_worker *bw;
    struct bk_account *a;
    bk_done_cb cb;
    void *ctx;
    int cache_only;
};

static void acct_key(char *out, int64_t id)
{
    snprintf(out, 64, "bk:acct:%" PRId64, id);
}

static void acct_finish(struct acct_load *l, int rc)
{
    bk_done_cb cb = l->cb;
    void *ctx = l->ctx;
    free(l);
    cb(rc, ctx);
}

static void copy_field(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static void on_acct_pg(const struct pg_reply *r, void *ctx)
{
    struct acct_load *l = ctx;
    if (r->status != PG_OK) {
        acct_finish(l, -EIO);
        return;
    }
    const PGresult *res = r->results[0];
    if (PQntuples(res) != 1) {
        acct_finish(l, -ENOENT);
        return;
    }
    struct bk_account *a = l->a;
    copy_field(a->email, sizeof(a->email), pg_text(res, 0, 0));
    copy_field(a->lang, sizeof(a->lang), pg_text(res, 0, 1));
    copy_field(a->name, sizeof(a->name), pg_text(res, 0, 2));
    copy_field(a->doc_type, sizeof(a->doc_type), pg_text(res, 0, 3));
    copy_field(a->doc_number, sizeof(a->doc_number), pg_text(res, 0, 4));
    if (a->doc_type[0] == '\0' || a->doc_number[0] == '\0') {
        acct_finish(l, -ENOENT);
        return;
    }
    booking_doc_hash(a->doc_type, a->doc_number, a->doc_hash);
    char key[64], ttl[24];
    acct_key(key, a->id);
    snprintf(ttl, sizeof(ttl), "%" PRIu64, l->bw->account_cache_s);
    const char *argv[] = {"HSET", key,     "email", a->email,    "lang", a->lang,
                          "name", a->name, "dt",    a->doc_type, "dn",   a->doc_number};
    const char *exp[] = {"EXPIRE", key, ttl};
    /* best effort: a failed cache write only means the next attempt asks PostgreSQL again */
    if (redis_command(l->bw->redis, bk_redis_ignore, NULL, 12, argv, NULL) == 0)
        redis_command(l->bw->redis, bk_redis_ignore, NULL, 3, exp, NULL);
    acct_finish(l, 0);
}

static void on_acct_redis(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct acct_load *l = ctx;
    if (err == NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 5) {
        int all = 1;
        for (size_t i = 0; i < 5; i++)
            all &= reply->element[i]->type == REDIS_REPLY_STRING;
        if (all && reply->element[3]->len > 0 && reply->element[4]->len > 0) {
            struct bk_account *a = l->a;
            copy_field(a->email, sizeof(a->email), reply->element[0]->str);
            copy_field(a->lang, sizeof(a->lang), reply->element[1]->str);
            copy_field(a->name, sizeof(a->name), reply->element[2]->str);
            copy_field(a->doc_type, sizeof(a->doc_type), reply->element[3]->str);
            copy_field(a->doc_number, sizeof(a->doc_number), reply->element[4]->str);
            booking_doc_hash(a->doc_type, a->doc_number, a->doc_hash);
            acct_finish(l, 0);
            return;
        }
    }
    if (err != NULL) {
        acct_finish(l, -EIO);
        return;
    }
    if (l->cache_only) {
        acct_finish(l, -EAGAIN);
        return;
    }
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, l->a->id);
    const char *v[] = {id};
    if (pg_query(l->bw->pg,
                 "SELECT email, lang, full_name, doc_type, doc_number FROM accounts WHERE id = $1 AND NOT "
                 "disabled",
                 1, v, on_acct_pg, l) != 0)
        acct_finish(l, -EIO);
}

int bk_account_load(struct bk_worker *bw, struct bk_account *a, int cache_only, bk_done_cb cb, void *ctx)
{
    struct acct_load *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    *l = (struct acct_load){bw, a, cb, ctx, cache_only};
    char key[64];
    acct_key(key, a->id);
    const char *argv[] = {"HMGET", key, "email", "lang", "name", "dt", "dn"};
    int rc = redis_command(bw->redis, on_acct_redis, l, 7, argv, NULL);
    if (rc != 0) {
        free(l);
        return -EIO;
    }
    return 0;
}

void bk_account_forget(struct bk_worker *bw, int64_t id)
{
    char key[64];
    acct_key(key, id);
    const char *argv[] = {"DEL", key};
    redis_command(bw->redis, bk_redis_ignore, NULL, 2, argv, NULL);
}

/* --- slot id -> office --- */

struct slot_waiter {
    struct slot_waiter *next;
    char *office;
    bk_done_cb cb;
    void *ctx;
};

enum { SE_EMPTY, SE_KNOWN, SE_MISSING, SE_PENDING };
struct slot_entry {
    int64_t id;
    int state;
    uint64_t until; /* SE_MISSING: forget after this (ms) */
    char office[BK_OFFICE_MAX + 1];
    struct slot_waiter *waiters;
};

struct bk_slotmap {
    struct slot_entry *e;
    size_t cap, used;
};

struct slot_query {
    struct bk_worker *bw;
    int64_t id;
};

int bk_slotmap_create(struct bk_slotmap **out)
{
    struct bk_slotmap *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->cap = 1024;
    m->e = calloc(m->cap, sizeof(*m->e));
    if (m->e == NULL) {
        free(m);
        return -ENOMEM;
    }
    *out = m;
    return 0;
}

void bk_slotmap_free(struct bk_slotmap *m)
{
    if (m == NULL)
        return;
    free(m->e);
    free(m);
}

static size_t slot_hash(int64_t id, size_t cap)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 20) & (cap - 1);
}

static struct slot_entry *slot_find(struct bk_slotmap *m, int64_t id, int insert)
{
    size_t i = slot_hash(id, m->cap);
    for (;;) {
        struct slot_entry *e = &m->e[i];
        if (e->state == SE_EMPTY) {
            if (!insert)
                return NULL;
            e->id = id;
            m->used++;
            return e;
        }
        if (e->id == id)
            return e;
        i = (i + 1) & (m->cap - 1);
    }
}

/* Keeps the load under one half; pending entries move with their waiters. */
static int slot_grow(struct bk_slotmap *m)
{
    if ((m->used + 1) * 2 < m->cap)
        return 0;
    struct bk_slotmap n = {calloc(m->cap * 2, sizeof(*m->e)), m->cap * 2, 0};
    if (n.e == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].state != SE_EMPTY)
            *slot_find(&n, m->e[i].id, 1) = m->e[i];
    free(m->e);
    *m = n;
    return 0;
}

void bk_slot_remember(struct bk_worker *bw, int64_t slot, const char *office)
{
    struct slot_entry *e = slot_find(bw->slots, slot, 0);
    if (e != NULL && e->state == SE_PENDING)
        return;
    if (e == NULL) {
        if (slot_grow(bw->slots) != 0)
            return;
        e = slot_find(bw->slots, slot, 1);
    }
    e->state = SE_KNOWN;
    snprintf(e->office, sizeof(e->office), "%s", office);
}

static void on_slot_pg(const struct pg_reply *r, void *ctx)
{
    struct slot_query *q = ctx;
    struct slot_entry *e = slot_find(q->bw->slots, q->id, 0);
    int rc = -EIO;
    if (r->status == PG_OK && PQntuples(r->results[0]) == 1) {
        rc = 0;
    } else if (r->status == PG_OK) {
        rc = -ENOENT;
    }
    if (e == NULL || e->state != SE_PENDING) { /* cannot happen: pending entries stay until answered */
        free(q);
        return;
    }
    struct slot_waiter *w = e->waiters;
    e->waiters = NULL;
    if (rc == 0) {
        e->state = SE_KNOWN;
        snprintf(e->office, sizeof(e->office), "%s", PQgetvalue(r->results[0], 0, 0));
    } else if (rc == -ENOENT) {
        e->state = SE_MISSING;
        e->until = ring_now(q->bw->ring) + 5000;
    } else {
        e->state = SE_MISSING;
        e->until = 0; /* ask again next time */
    }
    char office[BK_OFFICE_MAX + 1];
    snprintf(office, sizeof(office), "%s", e->office);
    free(q);
    while (w != NULL) {
        struct slot_waiter *next = w->next;
        if (rc == 0)
            memcpy(w->office, office, sizeof(office));
        w->cb(rc, w->ctx);
        free(w);
        w = next;
    }
}

int bk_slot_office(struct bk_worker *bw, int64_t slot, char *office, bk_done_cb cb, void *ctx)
{
    struct slot_entry *e = slot_find(bw->slots, slot, 0);
    if (e != NULL && e->state == SE_KNOWN) {
        memcpy(office, e->office, sizeof(e->office));
        return 1;
    }
    if (e != NULL && e->state == SE_MISSING && e->until > ring_now(bw->ring))
        return -ENOENT; /* known not to exist, a moment ago */
    struct slot_waiter *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -EIO;
    *w = (struct slot_waiter){NULL, office, cb, ctx};
    if (e != NULL && e->state == SE_PENDING) {
        w->next = e->waiters;
        e->waiters = w;
        return 0;
    }
    struct slot_query *q = calloc(1, sizeof(*q));
    if (q == NULL || (e == NULL && slot_grow(bw->slots) != 0)) {
        free(q);
        free(w);
        return -EIO;
    }
    if (e == NULL)
        e = slot_find(bw->slots, slot, 1);
    q->bw = bw;
    q->id = slot;
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, slot);
    const char *v[] = {id};
    if (pg_query(bw->pg, "SELECT office_code FROM slots WHERE id = $1", 1, v, on_slot_pg, q) != 0) {
        free(q);
        free(w);
        e->state = SE_MISSING;
        e->until = 0;
        return -EIO;
    }
    e->state = SE_PENDING;
    e->waiters = w;
    return 0;
}

/* --- office and procedure names --- */

struct info_query {
    struct bk_worker *bw;
    struct bk_info *out;
    char office[BK_OFFICE_MAX + 1], procedure[BK_PROC_MAX + 1];
    bk_done_cb cb;
    void *ctx;
};

static struct bk_info *info_find(struct bk_worker *bw, const char *office, const char *procedure)
{
    for (size_t i = 0; i < bw->ninfo; i++)
        if (strcmp(bw->info[i].office, office) == 0 && strcmp(bw->info[i].procedure, procedure) == 0)
            return &bw->info[i];
    return NULL;
}

static void on_info_pg(const struct pg_reply *r, void *ctx)
{
    struct info_query *q = ctx;
    int rc = r->status != PG_OK ? -EIO : PQntuples(r->results[0]) != 1 ? -ENOENT : 0;
    if (rc == 0) {
        const PGresult *res = r->results[0];
        struct bk_info in;
        memset(&in, 0, sizeof(in));
        snprintf(in.office, sizeof(in.office), "%s", q->office);
        snprintf(in.procedure, sizeof(in.procedure), "%s", q->procedure);
        copy_field(in.office_name_es, sizeof(in.office_name_es), pg_text(res, 0, 0));
        copy_field(in.office_name_en, sizeof(in.office_name_en), pg_text(res, 0, 1));
        copy_field(in.address, sizeof(in.address), pg_text(res, 0, 2));
        copy_field(in.time_zone, sizeof(in.time_zone), pg_text(res, 0, 3));
        copy_field(in.proc_name_es, sizeof(in.proc_name_es), pg_text(res, 0, 4));
        copy_field(in.proc_name_en, sizeof(in.proc_name_en), pg_text(res, 0, 5));
        in.duration_min = atoi(PQgetvalue(res, 0, 6));
        in.loaded_at = ring_now(q->bw->ring);
        *q->out = in;
        struct bk_info *slot = info_find(q->bw, q->office, q->procedure);
        if (slot == NULL && q->bw->ninfo < 512) {
            if (q->bw->ninfo == q->bw->info_cap) {
                size_t cap = q->bw->info_cap ? q->bw->info_cap * 2 : 16;
                struct bk_info *n = realloc(q->bw->info, cap * sizeof(*n));
                if (n != NULL) {
                    q->bw->info = n;
                    q->bw->info_cap = cap;
                }
            }
            if (q->bw->ninfo < q->bw->info_cap)
                slot = &q->bw->info[q->bw->ninfo++];
        }
        if (slot != NULL)
            *slot = in;
    }
    bk_done_cb cb = q->cb;
    void *cctx = q->ctx;
    free(q);
    cb(rc, cctx);
}

int bk_info_get(struct bk_worker *bw, const char *office, const char *procedure, struct bk_info *out,
                bk_done_cb cb, void *ctx)
{
    struct bk_info *in = info_find(bw, office, procedure);
    if (in != NULL && ring_now(bw->ring) - in->loaded_at < 300000) {
        *out = *in;
        return 1;
    }
    struct info_query *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return -ENOMEM;
    q->bw = bw;
    q->out = out;
    q->cb = cb;
    q->ctx = ctx;
    snprintf(q->office, sizeof(q->office), "%s", office);
    snprintf(q->procedure, sizeof(q->procedure), "%s", procedure);
    const char *v[] = {office, procedure};
    if (pg_query(
            bw->pg,
            "SELECT o.name_es, o.name_en, coalesce(o.address, ''), o.time_zone, p.name_es, p.name_en, "
            "coalesce(p.duration_min, 30) FROM offices o, procedures p WHERE o.code = $1 AND p.code = $2",
            2, v, on_info_pg, q) != 0) {
        free(q);
        return -EIO;
    }
    return 0;
}
