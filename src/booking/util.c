/* Keys of the booking data contract, appointment codes, time formatting, the .ics and JSON views. */
#include "internal.h"
#include "citas/guard.h"
#include "citas/hex.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void bk_key_slot(char *out, const char *office, int64_t slot)
{
    snprintf(out, BK_KEY_MAX, "cal:{%s}:slot:%" PRId64, office, slot);
}
void bk_key_free(char *out, const char *office, int64_t slot)
{
    snprintf(out, BK_KEY_MAX, "cal:{%s}:free:%" PRId64, office, slot);
}
void bk_key_proc(char *out, const char *office, const char *procedure)
{
    snprintf(out, BK_KEY_MAX, "cal:{%s}:proc:%s", office, procedure);
}
void bk_key_holds(char *out, const char *office)
{
    snprintf(out, BK_KEY_MAX, "bk:{%s}:holds", office);
}
void bk_key_hold(char *out, const char *office, int64_t slot, int seat)
{
    snprintf(out, BK_KEY_MAX, "bk:{%s}:hold:%" PRId64 ":%d", office, slot, seat);
}
void bk_key_person(char *out, const char *office, const char *doc_hash, const char *procedure)
{
    snprintf(out, BK_KEY_MAX, "bk:{%s}:person:%s:%s", office, doc_hash, procedure);
}
int bk_key_captcha(char *out, const char *office, const char *response)
{
    char prefix[BK_KEY_MAX];
    snprintf(prefix, sizeof(prefix), "bk:{%s}:", office);
    return guard_captcha_claim_key(response, prefix, out, BK_KEY_MAX);
}
void bk_captcha_pass_value(char out[BK_PASS_VALUE_MAX], int64_t account)
{
    snprintf(out, BK_PASS_VALUE_MAX, "v:%" PRId64, account);
}

int bk_office_valid(const char *s, size_t len)
{
    if (len == 0 || len > BK_OFFICE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int bk_procedure_valid(const char *s, size_t len)
{
    if (len == 0 || len > BK_PROC_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

int bk_parse_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int booking_code_new(char out[BOOKING_CODE_LEN + 1])
{
    unsigned char rnd[BOOKING_CODE_LEN];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -EIO;
    /* 32 symbols: the low 5 bits of each byte are uniform */
    for (int i = 0; i < BOOKING_CODE_LEN; i++)
        out[i] = BOOKING_CODE_ALPHABET[rnd[i] & 31];
    out[BOOKING_CODE_LEN] = '\0';
    return 0;
}

int booking_code_valid(const char *s, size_t len)
{
    if (len != BOOKING_CODE_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0' || strchr(BOOKING_CODE_ALPHABET, s[i]) == NULL)
            return 0;
    return 1;
}

void booking_doc_hash(const char *doc_type, const char *doc_number, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, doc_type, strlen(doc_type)) == 1 && EVP_DigestUpdate(c, ":", 1) == 1 &&
             EVP_DigestUpdate(c, doc_number, strlen(doc_number)) == 1 && EVP_DigestFinal_ex(c, md, &n) == 1;
    EVP_MD_CTX_free(c);
    if (!ok) {
        /* no SHA-256 means no OpenSSL: refuse rather than collide every person on one key */
        h2o_fatal("booking: SHA-256 unavailable");
    }
    hex_encode(out, md, 32);
}

/* "YYYY-MM-DDTHH:MM" read as if it were UTC. */
static int parse_local(const char *local, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (local == NULL || strlen(local) < 16)
        return -1;
    if (sscanf(local, "%4d-%2d-%2dT%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min) !=
        5)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int bk_iso_local(int64_t start, const char *local, char *out)
{
    int64_t wall;
    if (parse_local(local, &wall) != 0) {
        bk_iso_utc(start, out);
        return -1;
    }
    int64_t off = wall - start; /* the office's UTC offset at that instant */
    int64_t a = off < 0 ? -off : off;
    snprintf(out, 32, "%.16s:00%c%02d:%02d", local, off < 0 ? '-' : '+', (int)(a / 3600),
             (int)(a % 3600 / 60));
    return 0;
}

void bk_iso_utc(int64_t t, char *out)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --- .ics (RFC 5545): CRLF lines folded at 75 octets, never inside a UTF-8 sequence --- */

struct sbuf {
    h2o_mem_pool_t *pool;
    char *p;
    size_t len, cap;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *np = h2o_mem_alloc_pool(b->pool, cap);
        if (b->len)
            memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One content line: name + value (value escaped when `text`), folded. */
static void ics_line(struct sbuf *b, const char *name, const char *value, int text)
{
    char tmp[2048];
    size_t n = (size_t)snprintf(tmp, sizeof(tmp), "%s:", name);
    for (const char *s = value; *s != '\0' && n + 3 < sizeof(tmp); s++) {
        if (text && (*s == '\\' || *s == ';' || *s == ',')) {
            tmp[n++] = '\\';
            tmp[n++] = *s;
        } else if (text && *s == '\n') {
            tmp[n++] = '\\';
            tmp[n++] = 'n';
        } else if ((unsigned char)*s >= 0x20 || *s == '\t') {
            tmp[n++] = *s;
        }
    }
    size_t i = 0, col = 0;
    while (i < n) {
        size_t step = 1;
        unsigned char c = (unsigned char)tmp[i];
        if (c >= 0xF0)
            step = 4;
        else if (c >= 0xE0)
            step = 3;
        else if (c >= 0xC0)
            step = 2;
        if (i + step > n)
            step = n - i;
        if (col + step > 75) {
            sb_put(b, "\r\n ", 3);
            col = 1;
        }
        sb_put(b, tmp + i, step);
        col += step;
        i += step;
    }
    sb_put(b, "\r\n", 2);
}

static void ics_stamp(int64_t t, char *out)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 20, "%Y%m%dT%H%M%SZ", &tm);
}

char *bk_ics(h2o_mem_pool_t *pool, const char *code, int64_t start, int duration_min, const char *summary,
             const char *location, const char *description, size_t *len)
{
    struct sbuf b = {pool, NULL, 0, 0};
    char uid[64], ts[20], te[20], now[20];
    snprintf(uid, sizeof(uid), "%s@citas", code);
    ics_stamp(start, ts);
    ics_stamp(start + (int64_t)(duration_min > 0 ? duration_min : 30) * 60, te);
    ics_stamp((int64_t)time(NULL), now);
    sb_put(&b, H2O_STRLIT("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//citas//booking//ES\r\n"
                          "CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nBEGIN:VEVENT\r\n"));
    ics_line(&b, "UID", uid, 0);
    ics_line(&b, "DTSTAMP", now, 0);
    ics_line(&b, "DTSTART", ts, 0);
    ics_line(&b, "DTEND", te, 0);
    ics_line(&b, "SUMMARY", summary, 1);
    ics_line(&b, "LOCATION", location, 1);
    if (description != NULL)
        ics_line(&b, "DESCRIPTION", description, 1);
    sb_put(&b, H2O_STRLIT("END:VEVENT\r\nEND:VCALENDAR\r\n"));
    *len = b.len;
    return b.p;
}

void bk_json_appointment(struct json_buf *b, const char *key, const struct bk_view *v)
{
    char iso[32], utc[24];
    bk_iso_local(v->start, v->local, iso);
    bk_iso_utc(v->start, utc);
    json_open_object(b, key);
    json_add_str(b, "code", v->code);
    json_add_str(b, "state", v->state);
    json_open_object(b, "office");
    json_add_str(b, "code", v->office);
    if (v->office_name != NULL)
        json_add_str(b, "name", v->office_name);
    if (v->address != NULL)
        json_add_str(b, "address", v->address);
    if (v->time_zone != NULL)
        json_add_str(b, "time_zone", v->time_zone);
    json_close_object(b);
    json_open_object(b, "procedure");
    json_add_str(b, "code", v->procedure);
    if (v->procedure_name != NULL)
        json_add_str(b, "name", v->procedure_name);
    json_close_object(b);
    json_add_int(b, "slot", v->slot);
    json_add_int(b, "seat", v->seat);
    json_add_str(b, "start", iso);
    json_add_str(b, "start_utc", utc);
    json_add_strn(b, "local", v->local, strlen(v->local) >= 16 ? 16 : strlen(v->local));
    json_close_object(b);
}

void bk_send_problem_extra(h2o_req_t *req, int status, const char *title, const char *detail,
                           const char *extra_key, const char *extra_json, size_t extra_len)
{
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_add_str(&b, "type", "about:blank");
    json_add_str(&b, "title", title);
    json_add_int(&b, "status", status);
    json_add_str(&b, "detail", detail);
    if (extra_key != NULL)
        json_add_raw(&b, extra_key, extra_json, extra_len);
    json_close_object(&b);
    server_send(req, status, "application/problem+json", b.base, b.len);
}

void bk_unavailable(h2o_req_t *req, const char *what)
{
    char d[200];
    snprintf(d, sizeof(d), "%s is unavailable right now; try again in a moment.", what);
    server_add_header(req, "retry-after", "2");
    server_send_problem(req, 503, "Service unavailable", d);
}

struct bk_worker *bk_staff_code_route(h2o_req_t *req, const struct server_params *p)
{
    struct bk_worker *bw = bk_worker_of(req);
    if (bw == NULL) {
        bk_unavailable(req, "Booking");
        return NULL;
    }
    if (!booking_code_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no appointment with this code.");
        return NULL;
    }
    return bw;
}

void bk_send_state(h2o_req_t *req, const char *code, const char *state)
{
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_add_str(&b, "code", code);
    json_add_str(&b, "state", state);
    json_close_object(&b);
    server_send_json(req, 200, b.base, b.len);
}

void bk_db_failed(h2o_req_t *req, void *st)
{
    bk_unavailable(req, "The appointment database");
    server_async_release(st);
}
