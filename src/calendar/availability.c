/*
 * calendar: GET /api/v1/offices/{code}/availability?procedure=&from=&to= — from Redis only.
 *
 * One EVALSHA (availability.lua) per (office, procedure, from, to) answer and worker every
 * calendar_availability_cache_ms: the answer is kept in a small per-worker table, and requests arriving
 * while it is being fetched wait for that one call. Office and procedure are checked against the
 * reference cache (never PostgreSQL on this path, except a rate-limited refresh for an unknown office).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_DAYS 30
#define MAX_DAYS     62

struct avail_req {
    struct cal_wait wait;
    char office[CAL_CODE_MAX + 1], procedure[CAL_CODE_MAX + 1];
    long from, to; /* local days */
    int refreshed, fetching;
};

static void on_wait(struct cal_wait *w);

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void send_entry(h2o_req_t *req, const struct cal_avail_entry *e)
{
    if (e->status == 200)
        cal_send_cacheable_gz(req, e->body, e->len, e->gz, e->gz_len, 1);
    else
        server_send_problem(req, e->status, "Service unavailable", "Availability cannot be read now.");
}

/* Turns the script's reply into the JSON answer (malloc'd into e->body). */
static int build(struct cal_avail_entry *e, const redisReply *r, const char *office, const char *procedure,
                 long from, long to)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || (r->elements - 2) % 6 != 0)
        return -1;
    int64_t now_ms = cal_reply_int(r->element[0]);
    char from_s[11], to_s[11], iso[32];
    cal_format_date(from, from_s);
    cal_format_date(to, to_s);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    struct json_buf b;
    json_buf_init(&b, &pool);
    json_open_object(&b, NULL);
    json_add_str(&b, "office", office);
    json_add_str(&b, "procedure", procedure);
    json_add_str(&b, "from", from_s);
    json_add_str(&b, "to", to_s);
    cal_format_iso(now_ms / 1000, 0, 1, iso);
    json_add_str(&b, "as_of", iso);
    json_add_bool(&b, "truncated", cal_reply_int(r->element[1]) == 1);
    int64_t opens = -1;
    long long total_free = 0;
    char day[11] = "";
    long long day_free = 0;
    int day_open = 0;
    /* every future slot, sold out or not, for calendar_free_days() */
    struct cal_free *slots = malloc(((r->elements - 2) / 6 + 1) * sizeof(*slots));
    size_t nslots = 0;
    json_open_array(&b, "days");
    for (size_t i = 2; i + 5 < r->elements; i += 6) {
        const redisReply *const *f = (const redisReply *const *)&r->element[i];
        if (f[2]->type != REDIS_REPLY_STRING)
            continue;
        int64_t id = cal_reply_int(f[0]), start = cal_reply_int(f[1]), cap = cal_reply_int(f[3]);
        int64_t release = cal_reply_int(f[4]), free_seats = cal_reply_int(f[5]);
        int64_t local = cal_parse_local(f[2]->str, f[2]->len);
        if (local < 0 || start < 0 || cap < 0 || release < 0 || free_seats < 0)
            continue;
        if (memcmp(f[2]->str, from_s, 10) < 0 || memcmp(f[2]->str, to_s, 10) > 0 || start * 1000 <= now_ms)
            continue;
        int released = release <= now_ms;
        if (slots != NULL && f[2]->len >= 16) {
            struct cal_free *cf = &slots[nslots++];
            cf->id = id;
            cf->start = start;
            memcpy(cf->local, f[2]->str, 16);
            cf->local[16] = '\0';
            cf->free = released ? (uint32_t)free_seats : 0;
        }
        if (released && free_seats == 0)
            continue;
        if (!released && (opens < 0 || release < opens))
            opens = release;
        if (!day_open || memcmp(day, f[2]->str, 10) != 0) {
            if (day_open) {
                json_close_array(&b);
                json_add_int(&b, "free", day_free);
                json_close_object(&b);
            }
            memcpy(day, f[2]->str, 10);
            day[10] = '\0';
            day_free = 0;
            day_open = 1;
            json_open_object(&b, NULL);
            json_add_str(&b, "date", day);
            json_open_array(&b, "slots");
        }
        json_open_object(&b, NULL);
        json_add_int(&b, "id", id);
        cal_format_iso(start, (int)(local - start), 0, iso);
        json_add_str(&b, "start", iso);
        json_add_strn(&b, "local", f[2]->str, 16);
        json_add_strn(&b, "time", f[2]->str + 11, 5);
        json_add_int(&b, "capacity", cap);
        json_add_int(&b, "free", released ? free_seats : 0);
        if (!released) {
            cal_format_iso((release + 999) / 1000, 0, 1, iso);
            json_add_str(&b, "opens_at", iso);
        } else {
            day_free += free_seats;
            total_free += free_seats;
        }
        json_close_object(&b);
    }
    if (day_open) {
        json_close_array(&b);
        json_add_int(&b, "free", day_free);
        json_close_object(&b);
    }
    json_close_array(&b);
    json_add_int(&b, "free", total_free);
    if (opens >= 0) {
        cal_format_iso((opens + 999) / 1000, 0, 1, iso);
        json_add_str(&b, "opens_at", iso);
    } else {
        json_add_null(&b, "opens_at");
    }
    json_close_object(&b);
    free(e->body);
    free(e->gz);
    free(e->slots);
    e->slots = slots;
    e->nslots = slots != NULL ? nslots : 0;
    e->gz = NULL;
    e->gz_len = 0;
    e->body = malloc(b.len > 0 ? b.len : 1);
    int rc = -1;
    if (e->body != NULL) {
        memcpy(e->body, b.base, b.len);
        e->len = b.len;
        rc = 0;
        /* once per entry, for every client that accepts gzip (browsers do); without it, the plain body */
        if (b.len >= CAL_GZIP_MIN)
            (void)cal_gzip(b.base, b.len, &e->gz, &e->gz_len);
    }
    h2o_mem_clear_pool(&pool);
    return rc;
}

static struct cal_latest *latest_of(struct cal_worker *cw, const char *office, const char *procedure,
                                    char *key, size_t cap)
{
    snprintf(key, cap, "%s|%s", office, procedure);
    return &cw->latest[hash_key(key) % CAL_LATEST_SLOTS];
}

static void remember(struct cal_worker *cw, const char *office, const char *procedure,
                     struct cal_avail_entry *e)
{
    char k[2 * CAL_CODE_MAX + 2];
    struct cal_latest *l = latest_of(cw, office, procedure, k, sizeof(k));
    snprintf(l->key, sizeof(l->key), "%s", e->key);
    l->e = e;
}

int calendar_free_days(struct server_worker *w, const char *office, const char *procedure, int64_t except,
                       unsigned want, uint32_t rnd, uint64_t max_age_ms, struct calendar_free_slot *out)
{
    struct cal_worker *cw = server_worker_module(w, &calendar_server_module);
    if (cw == NULL || strlen(office) > CAL_CODE_MAX || strlen(procedure) > CAL_CODE_MAX)
        return -1;
    char k[2 * CAL_CODE_MAX + 2];
    struct cal_latest *l = latest_of(cw, office, procedure, k, sizeof(k));
    struct cal_avail_entry *e = l->e;
    size_t klen = strlen(k);
    /* the entry still holds that answer (its key begins "office|procedure|"), built recently enough */
    if (e == NULL || strcmp(e->key, l->key) != 0 || strncmp(e->key, k, klen) != 0 || e->key[klen] != '|' ||
        e->status != 200 || e->slots == NULL || ring_now(cw->ring) > e->built + max_age_ms)
        return -1;
    int64_t now = (int64_t)time(NULL);
    unsigned n = 0;
    uint64_t x = rnd | 1ull << 32; /* xorshift state */
    for (size_t i = 0; i < e->nslots; i++)
        if (e->slots[i].id == except) /* sold out now: so it is for the next suggestions too */
            e->slots[i].free = 0;
    for (size_t i = 0; i < e->nslots && n < want;) {
        size_t j = i; /* [i, j): one local day */
        uint64_t total = 0;
        while (j < e->nslots && memcmp(e->slots[j].local, e->slots[i].local, 10) == 0) {
            if (e->slots[j].id != except && e->slots[j].start > now)
                total += e->slots[j].free;
            j++;
        }
        if (total > 0) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint64_t at = x % total;
            for (size_t m = i; m < j; m++) {
                const struct cal_free *cf = &e->slots[m];
                if (cf->id == except || cf->start <= now || cf->free == 0)
                    continue;
                if (at < cf->free) {
                    out[n].id = cf->id;
                    out[n].start = cf->start;
                    memcpy(out[n].local, cf->local, sizeof(cf->local));
                    n++;
                    break;
                }
                at -= cf->free;
            }
        }
        i = j;
    }
    return (int)n;
}

struct fetch {
    struct cal_avail_entry *e;
    char office[CAL_CODE_MAX + 1], procedure[CAL_CODE_MAX + 1];
    long from, to;
    int temp; /* e is not in the table (its place was busy): free it afterwards */
};

static void on_script(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    struct fetch *f = ctx;
    struct cal_avail_entry *e = f->e;
    e->fetching = 0;
    uint64_t now = ring_now(e->cw->ring);
    if (err == NULL && build(e, reply, f->office, f->procedure, f->from, f->to) == 0) {
        e->status = 200;
        e->expires = now + e->cw->avail_ttl_ms;
        e->built = now;
        if (!f->temp && f->from <= (long)(time(NULL) / 86400)) /* covers today: the one to suggest from */
            remember(e->cw, f->office, f->procedure, e);
    } else {
        e->status = 503;
        e->expires = now; /* errors are not kept */
    }
    struct cal_wait *w = e->waiters;
    e->waiters = NULL;
    while (w != NULL) {
        struct cal_wait *next = w->next;
        struct avail_req *st = (struct avail_req *)w;
        h2o_req_t *req = server_async_req(st);
        if (req != NULL)
            send_entry(req, e);
        server_async_release(st);
        w = next;
    }
    if (f->temp) {
        free(e->body);
        free(e->gz);
        free(e->slots);
        free(e);
    }
    free(f);
}

static int fetch(struct cal_worker *cw, struct cal_avail_entry *e, const struct avail_req *st, int temp)
{
    struct fetch *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->e = e;
    f->temp = temp;
    memcpy(f->office, st->office, sizeof(f->office));
    memcpy(f->procedure, st->procedure, sizeof(f->procedure));
    f->from = st->from;
    f->to = st->to;
    char k1[96], k2[64], a_from[24], a_to[24], a_max[16];
    snprintf(k1, sizeof(k1), "cal:{%s}:proc:%s", st->office, st->procedure);
    snprintf(k2, sizeof(k2), "bk:{%s}:holds", st->office);
    /* local days → a UTC range wide enough for every zone (UTC-12..UTC+14); build() filters by local day */
    snprintf(a_from, sizeof(a_from), "%lld", (long long)st->from * 86400 - 14 * 3600);
    snprintf(a_to, sizeof(a_to), "%lld", (long long)(st->to + 1) * 86400 + 12 * 3600);
    snprintf(a_max, sizeof(a_max), "%d", CAL_AVAIL_MAX);
    const char *argv[] = {k1, k2, st->office, a_from, a_to, a_max};
    if (redis_evalsha(cw->redis, cw->avail, 2, 6, argv, NULL, on_script, f) != 0) {
        free(f);
        return -1;
    }
    e->fetching = 1;
    return 0;
}

static void lookup(struct avail_req *st, h2o_req_t *req, struct cal_worker *cw)
{
    char key[128];
    snprintf(key, sizeof(key), "%s|%s|%ld|%ld", st->office, st->procedure, st->from, st->to);
    struct cal_avail_entry *e = &cw->avail_cache[hash_key(key) % CAL_AVAIL_SLOTS];
    uint64_t now = ring_now(cw->ring);
    int mine = strcmp(e->key, key) == 0;
    if (mine && e->status == 200 && now < e->expires) {
        send_entry(req, e);
        server_async_release(st);
        return;
    }
    int temp = 0;
    if (!mine && e->fetching) { /* the place is busy with another answer: fetch this one on the side */
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            server_send_problem(req, 503, "Service unavailable", "Out of memory.");
            server_async_release(st);
            return;
        }
        e->cw = cw;
        temp = 1;
    } else if (!mine) {
        snprintf(e->key, sizeof(e->key), "%s", key);
        e->status = 0;
        e->expires = 0;
    }
    if (!e->fetching && fetch(cw, e, st, temp) != 0) {
        if (temp)
            free(e);
        server_send_problem(req, 503, "Service unavailable", "Availability cannot be read now.");
        server_async_release(st);
        return;
    }
    st->wait.next = e->waiters;
    e->waiters = &st->wait;
}

static void proceed(struct avail_req *st)
{
    h2o_req_t *req = server_async_req(st);
    if (req == NULL) {
        server_async_release(st);
        return;
    }
    struct cal_worker *cw = cal_worker_of(req);
    if (cw->ref == NULL) {
        server_send_problem(req, 503, "Service unavailable", "The office directory cannot be read now.");
        server_async_release(st);
        return;
    }
    const struct cal_office *o = cal_ref_office(cw, st->office);
    if (o == NULL && !st->refreshed) {
        st->refreshed = 1;
        if (cal_ref_ensure(cw, &st->wait, 1))
            return;
        o = cal_ref_office(cw, st->office);
    }
    if (o == NULL) {
        server_send_problem(req, 404, "Not found", "There is no such office.");
        server_async_release(st);
        return;
    }
    if (!cal_office_offers(o, st->procedure)) {
        server_send_problem(req, 404, "Not found", "This office does not offer that procedure.");
        server_async_release(st);
        return;
    }
    lookup(st, req, cw);
}

static void on_wait(struct cal_wait *w)
{
    proceed((struct avail_req *)w);
}

void calendar_on_availability(h2o_req_t *req, const struct server_params *p)
{
    struct cal_worker *cw = cal_worker_of(req);
    if (cw == NULL) {
        server_send_problem(req, 503, "Service unavailable", "The calendar module is not running.");
        return;
    }
    if (!cal_code_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no such office.");
        return;
    }
    size_t plen = 0, flen = 0, tlen = 0;
    const char *proc = server_query(req, "procedure", &plen);
    const char *from = server_query(req, "from", &flen);
    const char *to = server_query(req, "to", &tlen);
    if (proc == NULL || !cal_procedure_valid(proc, plen)) {
        server_send_problem(req, 400, "Bad request",
                            "procedure is required: a procedure code such as passport_renewal.");
        return;
    }
    long today = (long)(time(NULL) / 86400) - 1; /* the earliest "today" of any zone */
    long f = from != NULL ? cal_parse_date(from, flen) : today;
    long t = to != NULL ? cal_parse_date(to, tlen) : (f >= 0 ? f + DEFAULT_DAYS : -1);
    if (f < 0 || t < 0) {
        server_send_problem(req, 400, "Bad request", "from and to are dates, YYYY-MM-DD.");
        return;
    }
    if (t < f || t - f >= MAX_DAYS) {
        server_send_problem(req, 400, "Bad request",
                            "to must not be before from, and the range is at most 62 days.");
        return;
    }
    struct avail_req *st = server_async_alloc(req, sizeof(*st));
    memcpy(st->office, p->v[0].base, p->v[0].len);
    memcpy(st->procedure, proc, plen);
    st->from = f;
    st->to = t;
    st->wait.on_ready = on_wait;
    if (!cal_ref_ensure(cw, &st->wait, 0))
        proceed(st);
}
