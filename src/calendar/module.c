/* calendar: the per-worker module (scripts, caches, configuration) and small shared helpers. */
#include "internal.h"

#include "calendar_lua.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "citas/auth.h"

static const struct server_config_key keys[] = {
    {"calendar_availability_cache_ms", "250"},
    {"calendar_reference_ttl_s", "60"},
    {NULL, NULL},
};

static int worker_init(struct server_worker *w, void **state)
{
    const struct server_config *cfg = server_worker_config(w);
    uint64_t avail_ms, ref_s;
    char err[160];
    if (server_config_uint(cfg, "calendar_availability_cache_ms", &avail_ms, err, sizeof(err)) != 0 ||
        server_config_uint(cfg, "calendar_reference_ttl_s", &ref_s, err, sizeof(err)) != 0 ||
        avail_ms > 1000 || ref_s > 3600)
        return -EINVAL;
    struct cal_worker *cw = calloc(1, sizeof(*cw));
    if (cw == NULL)
        return -ENOMEM;
    cw->w = w;
    cw->redis = server_worker_redis(w);
    cw->pg = server_worker_pg(w);
    cw->ring = server_worker_ring(w);
    cw->avail_ttl_ms = avail_ms;
    cw->ref_ttl_ms = ref_s * 1000;
    cw->load = redis_script_create(CAL_LUA_LOAD);
    cw->avail = redis_script_create(CAL_LUA_AVAILABILITY);
    cw->state = redis_script_create(CAL_LUA_STATE);
    cw->booked = redis_script_create(CAL_LUA_BOOKED);
    cw->unperson = redis_script_create(CAL_LUA_UNPERSON);
    for (size_t i = 0; i < CAL_AVAIL_SLOTS; i++)
        cw->avail_cache[i].cw = cw;
    if (cw->load == NULL || cw->avail == NULL || cw->state == NULL || cw->booked == NULL ||
        cw->unperson == NULL) {
        redis_script_free(cw->load);
        redis_script_free(cw->avail);
        redis_script_free(cw->state);
        redis_script_free(cw->booked);
        redis_script_free(cw->unperson);
        free(cw);
        return -ENOMEM;
    }
    *state = cw;
    return 0;
}

static void worker_stop(void *state)
{
    struct cal_worker *cw = state;
    cw->stopping = 1;
}

static void worker_free(void *state)
{
    struct cal_worker *cw = state;
    if (cw == NULL)
        return;
    cal_ref_free(cw->ref);
    for (size_t i = 0; i < CAL_AVAIL_SLOTS; i++) {
        free(cw->avail_cache[i].body);
        free(cw->avail_cache[i].gz);
        free(cw->avail_cache[i].slots);
    }
    redis_script_free(cw->load);
    redis_script_free(cw->avail);
    redis_script_free(cw->state);
    redis_script_free(cw->booked);
    redis_script_free(cw->unperson);
    free(cw);
}

const struct server_module calendar_server_module = {
    .name = "calendar",
    .keys = keys,
    .worker_init = worker_init,
    .worker_stop = worker_stop,
    .worker_free = worker_free,
};

struct cal_worker *cal_worker_of(h2o_req_t *req)
{
    return server_worker_module(server_worker_of(req), &calendar_server_module);
}

void cal_send_cacheable_gz(h2o_req_t *req, const char *json, size_t len, const char *gz, size_t gz_len,
                           unsigned secs)
{
    int zip = gz != NULL && server_accepts_encoding(req, "gzip");
    if (zip) {
        json = gz;
        len = gz_len;
    }
    char cc[48];
    snprintf(cc, sizeof(cc), "public, max-age=%u", secs);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json; charset=utf-8"));
    if (zip)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL, H2O_STRLIT("gzip"));
    if (gz != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("accept-encoding"));
    server_add_header(req, "cache-control", cc);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    h2o_send_inline(req, len > 0 ? json : "", len); /* copies the body into the request's pool */
}

void cal_send_cacheable(h2o_req_t *req, const char *json, size_t len, unsigned secs)
{
    cal_send_cacheable_gz(req, json, len, NULL, 0, secs);
}

/* --- input checks and time formats --- */

int cal_code_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > CAL_CODE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int cal_procedure_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > CAL_CODE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static void civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = (long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

long cal_parse_date(const char *s, size_t len)
{
    return server_parse_date(s, len);
}

void cal_format_date(long days, char out[11])
{
    long y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%04ld-%02u-%02u", y % 10000, m % 100, d % 100);
    memcpy(out, tmp, 10);
    out[10] = '\0';
}

int64_t cal_parse_local(const char *s, size_t len)
{
    unsigned hh, mi;
    if (len != 16 || s[10] != 'T' || s[13] != ':' || server_parse_digits(s + 11, 2, &hh) != 0 ||
        server_parse_digits(s + 14, 2, &mi) != 0 || hh > 23 || mi > 59)
        return -1;
    long days = cal_parse_date(s, 10);
    if (days < 0)
        return -1;
    return (int64_t)days * 86400 + hh * 3600 + mi * 60;
}

int cal_parse_datetime(const char *s, int64_t *out)
{
    size_t len = strlen(s);
    unsigned hh, mi, ss = 0, oh = 0, om = 0;
    if (len < 17 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        server_parse_digits(s + 11, 2, &hh) != 0 || server_parse_digits(s + 14, 2, &mi) != 0)
        return -1;
    long days = cal_parse_date(s, 10);
    size_t i = 16;
    if (i < len && s[i] == ':') {
        if (len < i + 3 || server_parse_digits(s + i + 1, 2, &ss) != 0)
            return -1;
        i += 3;
        if (i < len && s[i] == '.') { /* fractional seconds are accepted and dropped */
            i++;
            size_t f = i;
            while (i < len && s[i] >= '0' && s[i] <= '9')
                i++;
            if (i == f || i - f > 9)
                return -1;
        }
    }
    int sign = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        sign = 1;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
               server_parse_digits(s + i + 1, 2, &oh) == 0 && server_parse_digits(s + i + 4, 2, &om) == 0 &&
               oh <= 14 && om <= 59) {
        sign = s[i] == '-' ? -1 : 1;
    } else {
        return -1; /* an offset is required */
    }
    if (days < 0 || hh > 23 || mi > 59 || ss > 59)
        return -1;
    *out = (int64_t)days * 86400 + hh * 3600 + mi * 60 + ss - sign * (int64_t)(oh * 3600 + om * 60);
    return 0;
}

void cal_format_iso(int64_t epoch, int offset_s, int utc, char out[32])
{
    int64_t t = epoch + offset_s;
    long days = (long)(t >= 0 ? t / 86400 : (t - 86399) / 86400);
    long secs = (long)(t - (int64_t)days * 86400);
    char date[11];
    cal_format_date(days, date);
    int n = snprintf(out, 32, "%sT%02ld:%02ld:%02ld", date, secs / 3600, secs / 60 % 60, secs % 60);
    if (utc) {
        snprintf(out + n, (size_t)(32 - n), "Z");
    } else {
        int a = offset_s < 0 ? -offset_s : offset_s;
        snprintf(out + n, (size_t)(32 - n), "%c%02d:%02d", offset_s < 0 ? '-' : '+', (a / 3600) % 100,
                 a / 60 % 60);
    }
}

int64_t cal_reply_int(const redisReply *r)
{
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return -1;
}

/* --- the staff check --- */

struct staff_ctx {
    cal_staff_cb next;
    void *st;
};

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct staff_ctx *sc = ctx;
    cal_staff_cb next = sc->next;
    void *st = sc->st;
    free(sc);
    if (req == NULL || s == NULL) {
        next(NULL, 0, st);
        return;
    }
    next(req, s->account_id, st);
}

void cal_require_staff(h2o_req_t *req, const char *office, cal_staff_cb next, void *st)
{
    struct staff_ctx *sc = malloc(sizeof(*sc));
    if (sc == NULL) {
        server_send_problem(req, 503, "Service unavailable", "Out of memory.");
        next(NULL, 0, st);
        return;
    }
    sc->next = next;
    sc->st = st;
    auth_require(req,
                 AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_STAFF) | AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_ADMIN) |
                     AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN),
                 office, on_session, sc);
}
