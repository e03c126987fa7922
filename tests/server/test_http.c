/*
 * The server core as a library: an application with its own routes and module, started with
 * server_start(); requests made with libcurl from this thread. Covers the request helpers (JSON body,
 * query, cookies, headers), asynchronous handlers whose client goes away, module hooks and module
 * configuration keys.
 */
#include "citas/json.h"
#include "citas/ring.h"
#include "citas/server.h"
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int inits, stops, frees, late_sent, late_gone;

/* --- the test application --- */

static void on_echo(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    const struct json_value *body = server_json_body(req);
    if (body == NULL)
        return;
    size_t len;
    const char *name = json_get_str(body, "name", &len);
    if (name == NULL) {
        server_send_problem(req, 422, "Invalid field", "name is required");
        return;
    }
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_add_strn(&b, "name", name, len);
    json_close_object(&b);
    server_send_json(req, 200, b.base, b.len);
}

static void on_inspect(h2o_req_t *req, const struct server_params *p)
{
    char ip[64];
    const char *q = server_query(req, "q", NULL), *c = server_cookie(req, "sid", NULL),
               *h = server_header(req, "x-test", NULL);
    struct json_buf b;
    json_buf_init(&b, &req->pool);
    json_open_object(&b, NULL);
    json_add_str(&b, "q", q);
    json_add_str(&b, "sid", c);
    json_add_str(&b, "x", h);
    json_add_str(&b, "ip", server_client_ip(req, ip));
    json_add_strn(&b, "param", p->n ? p->v[0].base : "", p->n ? p->v[0].len : 0);
    json_add_str(&b, "key", server_config_get(server_worker_config(server_worker_of(req)), "test_key"));
    json_close_object(&b);
    server_add_header(req, "x-answer", "yes");
    server_send_json(req, 200, b.base, b.len);
}

struct slow {
    struct ring_op timer;
};

static void on_slow_timer(struct ring_op *op, int res)
{
    (void)res;
    struct slow *s = op->data;
    h2o_req_t *req = server_async_req(s);
    if (req != NULL) {
        /* counted before the answer leaves: the client checks the count as soon as it has the answer */
        atomic_fetch_add(&late_sent, 1);
        server_send_json(req, 200, H2O_STRLIT("{\"late\":true}"));
    } else {
        atomic_fetch_add(&late_gone, 1);
    }
    server_async_release(s);
}

static void on_slow(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct slow *s = server_async_alloc(req, sizeof(*s));
    s->timer = (struct ring_op){.cb = on_slow_timer, .data = s};
    ring_timeout(server_worker_ring(server_worker_of(req)), &s->timer, 400);
}

static int mod_init(struct server_worker *w, void **state)
{
    (void)w;
    atomic_fetch_add(&inits, 1);
    *state = malloc(1);
    return *state != NULL ? 0 : -ENOMEM;
}
static void mod_stop(void *state)
{
    (void)state;
    atomic_fetch_add(&stops, 1);
}
static void mod_free(void *state)
{
    free(state);
    atomic_fetch_add(&frees, 1);
}

static const struct server_config_key mod_keys[] = {{"test_key", "default"}, {NULL, NULL}};
static void mod_metrics(struct server_metrics *m)
{
    server_metrics_put(m, "test_module_inits %d\n", atomic_load(&inits));
}

static const struct server_module mod = {"test", mod_keys, mod_init, mod_stop, mod_free, mod_metrics, 0};
static const struct server_module *const mods[] = {&mod};
static const struct server_route routes[] = {
    {"POST", "/echo", "echo", on_echo, SERVER_ADMIT_NORMAL},
    {"GET", "/inspect/{id}", "inspect", on_inspect, SERVER_ADMIT_NORMAL},
    {"GET", "/slow", "slow", on_slow, SERVER_ADMIT_NORMAL},
    {"GET", "/metrics", "metrics", server_on_metrics, SERVER_ADMIT_NORMAL},
};
static const struct server_app app = {routes, 4, mods, 1};

/* --- a blocking client --- */

struct answer {
    long status;
    char body[65536];
    size_t len;
    char headers[4096];
    size_t hlen;
    CURLcode rc;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = sz * n, room = sizeof(a->body) - 1 - a->len;
    memcpy(a->body + a->len, p, len < room ? len : room);
    a->len += len < room ? len : room;
    a->body[a->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = sz * n, room = sizeof(a->headers) - 1 - a->hlen;
    memcpy(a->headers + a->hlen, p, len < room ? len : room);
    a->hlen += len < room ? len : room;
    a->headers[a->hlen] = '\0';
    return len;
}

static int use_h2;

static struct answer request(int port, const char *method, const char *path, const char *ctype,
                             const char *body, size_t blen, const char *extra_header, long timeout_ms)
{
    struct answer a = {0};
    char url[256];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", use_h2 ? "https" : "http", port, path);
    CURL *c = curl_easy_init();
    if (use_h2) {
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    struct curl_slist *h = NULL;
    if (ctype != NULL) {
        char line[128];
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        h = curl_slist_append(h, line);
    }
    if (extra_header != NULL)
        h = curl_slist_append(h, extra_header);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    a.rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return a;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    int port = harness_free_port(), tls_port = harness_free_port();
    char listen[64], tls_listen[64], redis_port[16];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(tls_listen, sizeof(tls_listen), "127.0.0.1:%d", tls_port);
    setenv("CITAS_TLS_LISTEN", tls_listen, 1);
    setenv("CITAS_TLS_CERT", harness_env("CITAS_TEST_TLS_CERT"), 1);
    setenv("CITAS_TLS_KEY", harness_env("CITAS_TEST_TLS_KEY"), 1);
    snprintf(redis_port, sizeof(redis_port), "%s", harness_env("CITAS_TEST_REDIS_PORT"));
    setenv("CITAS_LISTEN", listen, 1);
    setenv("CITAS_WORKERS", "2", 1);
    setenv("CITAS_ACCESS_LOG", "", 1);
    setenv("CITAS_REDIS_PORT", redis_port, 1);
    setenv("CITAS_PG_DSN", harness_env("CITAS_TEST_PG_DSN"), 1);
    setenv("CITAS_TEST_KEY", "from-env", 1);

    /* dates in requests: real calendar dates only */
    CHECK(server_parse_date("1970-01-01", 10) == 0);
    CHECK(server_parse_date("2000-01-01", 10) == 10957);
    CHECK(server_parse_date("2024-02-29", 10) == 19782);
    CHECK(server_parse_date("2026-02-29", 10) == -1);
    CHECK(server_parse_date("2026-02-31", 10) == -1);
    CHECK(server_parse_date("2100-02-29", 10) == -1);
    CHECK(server_parse_date("2026-13-01", 10) == -1);
    CHECK(server_parse_date("2026-1-011", 10) == -1);
    CHECK(server_parse_date("2026-01-01", 9) == -1);
    CHECK(server_parse_date(NULL, 10) == -1);
    unsigned num = 0;
    CHECK(server_parse_digits("0907", 4, &num) == 0 && num == 907);
    CHECK(server_parse_digits("09a7", 4, &num) == -1 && num == 907);

    /* CSV fields: quotes doubled, a formula-leading character defused, CRLF after the last field */
    h2o_mem_pool_t csv_pool;
    h2o_mem_init_pool(&csv_pool);
    struct json_buf csv;
    json_buf_init(&csv, &csv_pool);
    server_csv_field(&csv, "=SUM(A1)", 0);
    server_csv_field(&csv, "say \"hi\"", 0);
    server_csv_field(&csv, "", 1);
    const char *csv_want = "\"'=SUM(A1)\",\"say \"\"hi\"\"\",\"\"\r\n";
    CHECK(csv.len == strlen(csv_want) && memcmp(csv.base, csv_want, csv.len) == 0);
    h2o_mem_clear_pool(&csv_pool);

    struct server_config cfg;
    char err[256];
    CHECK_INT(server_config_load(&cfg, &app, NULL, err, sizeof(err)), 0);
    CHECK(strcmp(server_config_get(&cfg, "test_key"), "from-env") == 0);
    CHECK(server_config_get(&cfg, "no_such_key") == NULL);
    struct server *srv;
    CHECK_INT(server_start(&cfg, &app, &srv, err, sizeof(err)), 0);
    CHECK_INT(atomic_load(&inits), 2);

    /* JSON bodies: good, wrong type, malformed, invalid UTF-8, not an object, missing field */
    const char *good = "{\"name\":\"Jos\\u00e9 <b>\"}";
    struct answer a = request(port, "POST", "/echo", "application/json", good, strlen(good), NULL, 5000);
    CHECK_INT(a.status, 200);
    CHECK(strcmp(a.body, "{\"name\":\"Jos\xc3\xa9 \\u003cb\\u003e\"}") == 0);
    a = request(port, "POST", "/echo", "text/plain", "{}", 2, NULL, 5000);
    CHECK_INT(a.status, 415);
    CHECK(strstr(a.headers, "application/problem+json") != NULL);
    a = request(port, "POST", "/echo", "application/json; charset=utf-8", "{\"name\":", 8, NULL, 5000);
    CHECK_INT(a.status, 400);
    CHECK(strstr(a.body, "not valid JSON") != NULL);
    a = request(port, "POST", "/echo", "application/json", "{\"name\":\"\xff\"}", 12, NULL, 5000);
    CHECK_INT(a.status, 400);
    a = request(port, "POST", "/echo", "application/json", "[1]", 3, NULL, 5000);
    CHECK_INT(a.status, 400);
    a = request(port, "POST", "/echo", "application/json", "{}", 2, NULL, 5000);
    CHECK_INT(a.status, 422);
    a = request(port, "POST", "/echo", "application/json", NULL, 0, NULL, 5000);
    CHECK_INT(a.status, 400);

    /* query, cookie, header, client address, path parameter, module configuration */
    a = request(port, "GET", "/inspect/ABC-1?x=1&q=a%20b+c%2F&z", NULL, NULL, 0,
                "Cookie: a=1; sid=s3cr3t; b=2", 5000);
    CHECK_INT(a.status, 200);
    CHECK(strstr(a.body, "\"q\":\"a b c/\"") != NULL);
    CHECK(strstr(a.body, "\"sid\":\"s3cr3t\"") != NULL);
    CHECK(strstr(a.body, "\"ip\":\"127.0.0.1\"") != NULL);
    CHECK(strstr(a.body, "\"param\":\"ABC-1\"") != NULL);
    CHECK(strstr(a.body, "\"key\":\"from-env\"") != NULL);
    CHECK(strstr(a.headers, "x-answer: yes") != NULL);
    a = request(port, "GET", "/inspect/ABC-1", NULL, NULL, 0, "X-Test: hola", 5000);
    CHECK(strstr(a.body, "\"x\":\"hola\"") != NULL && strstr(a.body, "\"q\":null") != NULL);
    a = request(port, "GET", "/inspect/", NULL, NULL, 0, NULL, 5000);
    CHECK_INT(a.status, 404);

    /* modules add their own lines to /metrics */
    a = request(port, "GET", "/metrics", NULL, NULL, 0, NULL, 5000);
    CHECK_INT(a.status, 200);
    CHECK(strstr(a.body, "\ntest_module_inits 2\n") != NULL);
    CHECK(strstr(a.body, "citas_http_requests_total{route=\"echo\",status=\"415\"} 1\n") != NULL);

    /* asynchronous answers: one waits for it; one gives up first over HTTP/2, where h2o disposes of the
     * stream at once: the handler must then see no request (h2o 2.2 notices a closed HTTP/1 connection
     * only when it writes the answer, so over HTTP/1 the request stays valid until then) */
    a = request(port, "GET", "/slow", NULL, NULL, 0, NULL, 5000);
    CHECK_INT(a.status, 200);
    CHECK(strcmp(a.body, "{\"late\":true}") == 0);
    CHECK_INT(atomic_load(&late_sent), 1);
    use_h2 = 1;
    a = request(tls_port, "GET", "/slow", NULL, NULL, 0, NULL, 5000);
    CHECK_INT(a.status, 200);
    CHECK_INT(atomic_load(&late_sent), 2);
    a = request(tls_port, "GET", "/slow", NULL, NULL, 0, NULL, 100);
    CHECK_INT(a.rc, CURLE_OPERATION_TIMEDOUT);
    long long deadline = harness_now_ms() + 3000;
    while (atomic_load(&late_gone) == 0 && harness_now_ms() < deadline)
        usleep(20000);
    CHECK_INT(atomic_load(&late_gone), 1);
    CHECK_INT(atomic_load(&late_sent), 2);
    use_h2 = 0;

    CHECK_INT(server_stop(srv), 0);
    server_free(srv);
    CHECK_INT(atomic_load(&stops), 2);
    CHECK_INT(atomic_load(&frees), 2);
    server_config_free(&cfg);
    curl_global_cleanup();
    return harness_finish("http");
}
