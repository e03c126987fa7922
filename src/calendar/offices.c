/*
 * calendar: the consular network's offices, for sysadmin only.
 *   GET   /api/v1/admin/offices          every office, inactive ones too
 *   POST  /api/v1/admin/offices          {code, kind, name_es, name_en, city, country, country_name_es,
 *                                         country_name_en, time_zone, address, phone?, email?} -> 201
 *   PATCH /api/v1/admin/offices/{code}   any of those but code, and active -> 200
 * Fields are checked here as sql/004 checks them (code shape, kind, lengths, phone shape), the country
 * against ISO 3166-1; whether a time zone exists is PostgreSQL's (offices_time_zone_* triggers: 422). The
 * time zone of an office with open windows still to come cannot change (their slots were generated in it).
 * Each write commits with its audit record; then the reference caches reload (cal_ref_invalidate()).
 */
#include "internal.h"

#include "citas/audit.h"
#include "citas/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFFICE_OBJ                                                                                           \
    "json_build_object('code', o.code, 'kind', o.kind, 'name_es', o.name_es, 'name_en', o.name_en,"          \
    " 'city', o.city, 'country', o.country, 'country_name_es', o.country_name_es,"                           \
    " 'country_name_en', o.country_name_en, 'time_zone', o.time_zone, 'address', o.address,"                 \
    " 'phone', o.phone, 'email', o.email, 'active', o.active)"

static const char sql_list[] =
    "SELECT json_build_object('offices', coalesce(json_agg(" OFFICE_OBJ " ORDER BY o.code), '[]'))::text"
    " FROM offices o";
static const char sql_create[] =
    "INSERT INTO offices AS o (code, kind, name_es, name_en, city, country, country_name_es, country_name_en,"
    " time_zone, address, phone, email) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    " RETURNING " OFFICE_OBJ "::text";
static const char sql_exists[] =
    "SELECT admin_require(EXISTS (SELECT 1 FROM offices WHERE code = $1), 'CA404',"
    " 'There is no such office.')";
static const char sql_tz_guard[] =
    "SELECT admin_require($2::text IS NULL OR $2 = (SELECT time_zone FROM offices WHERE code = $1)"
    " OR NOT EXISTS (SELECT 1 FROM calendar_windows w WHERE w.office_code = $1 AND w.state = 'open'"
    " AND w.last_day >= current_date - 1), 'CA409',"
    " 'time_zone: the office has open calendar windows; close them before changing its time zone.')";
static const char sql_update[] =
    "UPDATE offices AS o SET kind = coalesce($2, kind), name_es = coalesce($3, name_es),"
    " name_en = coalesce($4, name_en), city = coalesce($5, city), country = coalesce($6, country),"
    " country_name_es = coalesce($7, country_name_es), country_name_en = coalesce($8, country_name_en),"
    " time_zone = coalesce($9, time_zone), address = coalesce($10, address),"
    " phone = CASE WHEN $11::boolean THEN $12 ELSE phone END,"
    " email = CASE WHEN $13::boolean THEN $14 ELSE email END, active = coalesce($15::boolean, active)"
    " WHERE code = $1 RETURNING " OFFICE_OBJ "::text";

/* ISO 3166-1 alpha-2, officially assigned codes. */
static const char iso_countries[] = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI "
                                    "BJ BL BM BN BO BQ BR BS BT BV BW "
                                    "BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK "
                                    "DM DO DZ EC EE EG EH ER ES ET FI "
                                    "FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY "
                                    "HK HM HN HR HT HU ID IE IL IM IN "
                                    "IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI "
                                    "LK LR LS LT LU LV LY MA MC MD ME "
                                    "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG "
                                    "NI NL NO NP NR NU NZ OM PA PE PF "
                                    "PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH "
                                    "SI SJ SK SL SM SN SO SR SS ST SV "
                                    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY "
                                    "UZ VA VC VE VG VI VN VU WF WS YE "
                                    "YT ZA ZM ZW";

enum field {
    F_CODE,
    F_KIND,
    F_NAME_ES,
    F_NAME_EN,
    F_CITY,
    F_COUNTRY,
    F_COUNTRY_ES,
    F_COUNTRY_EN,
    F_TIME_ZONE,
    F_ADDRESS,
    F_PHONE,
    F_EMAIL,
    F_ACTIVE,
    F_COUNT
};

static const struct {
    const char *name;
    size_t min, max; /* characters, for text fields */
    const char *why;
} fields[F_COUNT] = {
    [F_CODE] = {"code", 0, 0, "3 capital letters and up to 5 more capital letters or digits (LAX, MEX2)"},
    [F_KIND] = {"kind", 0, 0, "one of embassy, consulate_general, consulate, consular_section"},
    [F_NAME_ES] = {"name_es", 3, 200, "3 to 200 characters"},
    [F_NAME_EN] = {"name_en", 3, 200, "3 to 200 characters"},
    [F_CITY] = {"city", 1, 100, "1 to 100 characters"},
    [F_COUNTRY] = {"country", 0, 0, "an ISO 3166-1 alpha-2 country code (US, ES)"},
    [F_COUNTRY_ES] = {"country_name_es", 2, 100, "2 to 100 characters"},
    [F_COUNTRY_EN] = {"country_name_en", 2, 100, "2 to 100 characters"},
    [F_TIME_ZONE] = {"time_zone", 0, 0, "an IANA time zone name (America/Los_Angeles)"},
    [F_ADDRESS] = {"address", 3, 300, "3 to 300 characters"},
    [F_PHONE] = {"phone", 0, 0, "+ and 6 to 25 digits, spaces, hyphens or parentheses, or null"},
    [F_EMAIL] = {"email", 0, 0, "an email address, or null"},
    [F_ACTIVE] = {"active", 0, 0, "true or false"},
};

struct office_req {
    struct cal_worker *cw;
    int create;
    char code[CAL_CODE_MAX + 1];
    char ip[64];
};

static int code_ok(const char *s, size_t n)
{
    if (n < 3 || n > 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (i >= 3 && s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

static int country_ok(const char *s, size_t n)
{
    if (n != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
        return 0;
    for (size_t i = 0; i + 2 < sizeof(iso_countries); i += 3) /* "AD AE ... ZW": a code every 3 bytes */
        if (iso_countries[i] == s[0] && iso_countries[i + 1] == s[1])
            return 1;
    return 0;
}

static int zone_ok(const char *s, size_t n)
{
    if (n < 2 || n > 64 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '+' || c == '/' || c == '-'))
            return 0;
    }
    return 1;
}

static int phone_ok(const char *s, size_t n)
{
    if (n < 7 || n > 26 || s[0] != '+' || s[1] < '0' || s[1] > '9')
        return 0;
    for (size_t i = 2; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == ' ' || s[i] == '(' || s[i] == ')' || s[i] == '-'))
            return 0;
    return 1;
}

static int kind_ok(const char *s)
{
    return strcmp(s, "embassy") == 0 || strcmp(s, "consulate_general") == 0 || strcmp(s, "consulate") == 0 ||
           strcmp(s, "consular_section") == 0;
}

/*
 * The body's fields into val[] (NULL: absent or null; set[f] says whether the body had it). Answers 400/422
 * and returns -1 on bad input. For create every field but phone and email is required.
 */
static int parse(h2o_req_t *req, const struct json_value *body, int create, const char *val[F_COUNT],
                 int set[F_COUNT])
{
    char d[200];
    for (size_t i = 0; i < body->len; i++) {
        int known = 0;
        for (int f = 0; f < F_COUNT; f++)
            if (strcmp(body->keys[i], fields[f].name) == 0 && (create ? f != F_ACTIVE : f != F_CODE))
                known = 1;
        if (!known) {
            snprintf(d, sizeof(d), "Unknown or read-only field '%.60s'.", body->keys[i]);
            server_send_problem(req, 400, "Bad request", d);
            return -1;
        }
    }
    int any = 0;
    for (int f = 0; f < F_COUNT; f++) {
        const struct json_value *v = json_get(body, fields[f].name);
        val[f] = NULL;
        set[f] = v != NULL;
        if (v == NULL) {
            if (create && f != F_PHONE && f != F_EMAIL && f != F_ACTIVE) {
                snprintf(d, sizeof(d), "%s: required (%s).", fields[f].name, fields[f].why);
                server_send_problem(req, 422, "Unprocessable", d);
                return -1;
            }
            continue;
        }
        any = 1;
        int ok;
        if (f == F_ACTIVE) {
            ok = v->type == JSON_TRUE || v->type == JSON_FALSE;
            val[f] = v->type == JSON_TRUE ? "true" : "false";
        } else if (v->type == JSON_NULL && (f == F_PHONE || f == F_EMAIL)) {
            ok = 1;
        } else if (v->type != JSON_STRING) {
            ok = 0;
        } else {
            val[f] = v->str;
            switch (f) {
            case F_CODE:
                ok = code_ok(v->str, v->len);
                break;
            case F_KIND:
                ok = kind_ok(v->str);
                break;
            case F_COUNTRY:
                ok = country_ok(v->str, v->len);
                break;
            case F_TIME_ZONE:
                ok = zone_ok(v->str, v->len);
                break;
            case F_PHONE:
                ok = phone_ok(v->str, v->len);
                break;
            case F_EMAIL: {
                char *e = h2o_mem_alloc_pool(&req->pool, AUTH_EMAIL_MAX + 1);
                const char *why;
                ok = auth_email_parse(v->str, v->len, e, &why) == 0;
                val[f] = e;
                break;
            }
            default:
                ok = cal_admin_text(v->str, v->len, fields[f].min, fields[f].max);
            }
        }
        if (!ok) {
            snprintf(d, sizeof(d), "%s: %s.", fields[f].name, fields[f].why);
            server_send_problem(req, 422, "Unprocessable", d);
            return -1;
        }
    }
    if (!any) {
        server_send_problem(req, 422, "Unprocessable", "Nothing to change.");
        return -1;
    }
    return 0;
}

static void on_done(const struct pg_reply *r, void *ctx)
{
    struct office_req *st = ctx;
    if (r->status == PG_OK)
        cal_ref_invalidate();
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (r->status != PG_OK) {
            cal_admin_pg_error(req, r);
        } else {
            /* the office JSON is the result of the INSERT or UPDATE (its position differs) */
            const PGresult *res = r->results[st->create ? 0 : 2];
            if (st->create) {
                char loc[96];
                snprintf(loc, sizeof(loc), "/api/v1/admin/offices/%s/settings", st->code);
                server_add_header(req, "location", loc);
            }
            server_send_json(req, st->create ? 201 : 200, PQgetvalue(res, 0, 0),
                             strlen(PQgetvalue(res, 0, 0)));
        }
    }
    server_async_release(st);
}

static void on_list(const struct pg_reply *r, void *ctx)
{
    struct office_req *st = ctx;
    h2o_req_t *req = server_async_req(st);
    if (req != NULL) {
        if (r->status != PG_OK)
            cal_admin_pg_error(req, r);
        else
            server_send_json(req, 200, PQgetvalue(r->results[0], 0, 0),
                             strlen(PQgetvalue(r->results[0], 0, 0)));
    }
    server_async_release(st);
}

static void write_office(h2o_req_t *req, struct office_req *st, const struct auth_session *s)
{
    const struct json_value *body = server_json_body(req);
    const char *val[F_COUNT];
    int set[F_COUNT];
    if (body == NULL || parse(req, body, st->create, val, set) != 0) {
        server_async_release(st);
        return;
    }
    if (st->create)
        snprintf(st->code, sizeof(st->code), "%s", val[F_CODE]);
    struct json_buf d;
    json_buf_init(&d, &req->pool);
    json_open_object(&d, NULL);
    json_add_str(&d, "office", st->code);
    json_open_array(&d, "fields");
    for (int f = 0; f < F_COUNT; f++)
        if (set[f])
            json_add_str(&d, NULL, fields[f].name);
    json_close_array(&d);
    json_close_object(&d);
    char subject[64];
    snprintf(subject, sizeof(subject), "office:%s", st->code);
    struct audit_event ev = {.actor_account = s->account_id,
                             .actor_role = auth_role_name(s->role),
                             .action = st->create ? "office.create" : "office.update",
                             .subject = subject,
                             .detail_json = json_buf_str(&d),
                             .client_ip = st->ip[0] ? st->ip : NULL};
    struct pg_tx *tx = pg_tx_begin(st->cw->pg);
    int rc = tx == NULL ? -1 : 0;
    if (rc == 0 && st->create) {
        const char *v[12];
        for (int f = 0; f < 12; f++)
            v[f] = val[f];
        rc = pg_tx_add(tx, sql_create, 12, v);
    } else if (rc == 0) {
        const char *v1[] = {st->code};
        const char *v2[] = {st->code, val[F_TIME_ZONE]};
        const char *v[15] = {st->code};
        for (int f = F_KIND; f <= F_ADDRESS; f++)
            v[f] = val[f];
        v[10] = set[F_PHONE] ? "true" : "false";
        v[11] = val[F_PHONE];
        v[12] = set[F_EMAIL] ? "true" : "false";
        v[13] = val[F_EMAIL];
        v[14] = val[F_ACTIVE];
        rc = pg_tx_add(tx, sql_exists, 1, v1);
        if (rc == 0)
            rc = pg_tx_add(tx, sql_tz_guard, 2, v2);
        if (rc == 0)
            rc = pg_tx_add(tx, sql_update, 15, v);
    }
    if (rc == 0)
        rc = audit_tx_add(tx, &ev);
    if (rc != 0) {
        pg_tx_abort(tx);
        server_send_problem(req, 503, "Service unavailable", "Out of memory.");
        server_async_release(st);
        return;
    }
    if (pg_tx_commit(tx, on_done, st) != 0) {
        server_send_problem(req, 503, "Service unavailable", "The database cannot be reached now.");
        server_async_release(st);
    }
}

static void on_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct office_req *st = ctx;
    if (req == NULL || s == NULL) {
        server_async_release(st);
        return;
    }
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        if (pg_query(st->cw->pg, sql_list, 0, NULL, on_list, st) != 0) {
            server_send_problem(req, 503, "Service unavailable", "The database cannot be reached now.");
            server_async_release(st);
        }
        return;
    }
    write_office(req, st, s);
}

static void start(h2o_req_t *req, const struct server_params *p, int create)
{
    struct cal_worker *cw = cal_worker_of(req);
    if (cw == NULL) {
        server_send_problem(req, 503, "Service unavailable", "The calendar module is not running.");
        return;
    }
    if (p != NULL && p->n > 0 && !cal_code_valid(p->v[0].base, p->v[0].len)) {
        server_send_problem(req, 404, "Not found", "There is no such office.");
        return;
    }
    struct office_req *st = server_async_alloc(req, sizeof(*st));
    st->cw = cw;
    st->create = create;
    if (p != NULL && p->n > 0)
        memcpy(st->code, p->v[0].base, p->v[0].len);
    server_client_ip(req, st->ip);
    auth_require(req, AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN), NULL, on_session, st);
}

void calendar_on_admin_offices(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    start(req, NULL, 0);
}

void calendar_on_admin_office_create(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    start(req, NULL, 1);
}

void calendar_on_admin_office_update(h2o_req_t *req, const struct server_params *p)
{
    start(req, p, 0);
}
