/*
 * curl: HTTP POSTs and SMTP mail through libcurl's multi interface on a real ring and h2o loop, against
 * the local peers (http_sink, smtp_sink). The same loop serves HTTP with h2o, and a client thread checks
 * that it keeps answering while a slow transfer is pending.
 */
#include "citas/curl.h"
#include "citas/ring.h"
#include "harness.h"
#include "http_sink.h"
#include "smtp_sink.h"
#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- results of transfers ---- */

struct result {
    int calls;
    int error;
    long status;
    char *body;
    size_t body_len;
    char error_text[512];
    long long at_ms;
};

static void on_result(const struct curl_client_result *res, void *ctx)
{
    struct result *r = ctx;
    r->calls++;
    r->error = res->error;
    r->status = res->status;
    free(r->body);
    r->body = malloc(res->body_len + 1);
    memcpy(r->body, res->body, res->body_len + 1);
    r->body_len = res->body_len;
    snprintf(r->error_text, sizeof(r->error_text), "%s", res->error_text);
    r->at_ms = harness_now_ms();
}

static void run_until(int *calls, int want, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    while (*calls < want && harness_now_ms() < deadline)
        ring_run_once(W.ring, 10);
}

/* ---- helpers ---- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *b = realloc(buf, cap);
            if (b == NULL)
                break;
            buf = b;
        }
        k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
    } while (k > 0);
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static char *form_encode(const unsigned char *raw, size_t n, size_t *out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    const char prefix[] = "secret=s3cr%C3%A9t&data=";
    char *out = malloc(sizeof(prefix) + 3 * n);
    size_t o = sizeof(prefix) - 1;
    memcpy(out, prefix, o);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = raw[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '.' || ch == '_' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    *out_len = o;
    return out;
}

static void result_free(struct result *r)
{
    free(r->body);
    r->body = NULL;
}

/* Checks that message number `num` in dir is exactly `envelope` followed by `message`. */
static void check_stored(const char *dir, unsigned long num, const char *envelope, const char *message)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%06lu.eml", dir, num);
    size_t len = 0;
    char *got = slurp(path, &len);
    CHECK(got != NULL);
    if (got == NULL)
        return;
    size_t el = strlen(envelope), ml = strlen(message);
    CHECK_INT(len, el + ml);
    CHECK(len == el + ml && memcmp(got, envelope, el) == 0 && memcmp(got + el, message, ml) == 0);
    free(got);
}

static const char MESSAGE[] = "From: Citas <citas@example.org>\r\n"
                              "To: Ana <ana@example.com>\r\n"
                              "Subject: =?UTF-8?Q?Cita_confirmada_=E2=80=94_c=C3=B3digo?=\r\n"
                              "MIME-Version: 1.0\r\n"
                              "Content-Type: text/plain; charset=UTF-8\r\n"
                              "Content-Transfer-Encoding: 8bit\r\n"
                              "\r\n"
                              "Hola Ana, su cita está confirmada. Código: ÑANDÚ-42 (€0, 日本語).\r\n"
                              ".a line starting with a dot\r\n"
                              "..two dots\r\n"
                              ".\r\n"
                              "last line\r\n";

/* ---- the tests ---- */

static void test_post(struct curl_client *c, struct http_sink *hs)
{
    /* 100 KB holding every byte value, sent raw */
    size_t n = 100 * 1024;
    unsigned char *raw = malloc(n);
    for (size_t i = 0; i < n; i++)
        raw[i] = (unsigned char)(i ^ (i >> 8));
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/bin?x=1", http_sink_port(hs));
    struct result r = {0};
    CHECK_INT(curl_client_post(c, url, "application/octet-stream", raw, n, 5000, on_result, &r, NULL), 0);
    CHECK_INT(r.calls, 0); /* never from inside the call */
    run_until(&r.calls, 1, 5000);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body != NULL && strstr(r.body, "\"body_bytes\":102400") != NULL);
    struct http_sink_request req;
    CHECK_INT(http_sink_last(hs, &req), 0);
    CHECK(strcmp(req.method, "POST") == 0 && strcmp(req.path, "/bin?x=1") == 0);
    CHECK_INT(req.body_len, n);
    CHECK(req.body_len == n && memcmp(req.body, raw, n) == 0);
    char ct[128];
    CHECK_INT(http_sink_header(&req, "Content-Type", ct, sizeof(ct)), 0);
    CHECK(strcmp(ct, "application/octet-stream") == 0);
    http_sink_request_free(&req);
    result_free(&r);

    /* the same bytes form-encoded, as siteverify will be called */
    size_t flen;
    char *form = form_encode(raw, n, &flen);
    struct result f = {0};
    CHECK_INT(
        curl_client_post(c, url, "application/x-www-form-urlencoded", form, flen, 5000, on_result, &f, NULL),
        0);
    run_until(&f.calls, 1, 5000);
    CHECK_INT(f.calls, 1);
    CHECK_INT(f.error, 0);
    CHECK_INT(f.status, 200);
    CHECK_INT(http_sink_last(hs, &req), 0);
    CHECK_INT(req.body_len, flen);
    CHECK(req.body_len == flen && memcmp(req.body, form, flen) == 0);
    CHECK_INT(http_sink_header(&req, "Content-Type", ct, sizeof(ct)), 0);
    CHECK(strcmp(ct, "application/x-www-form-urlencoded") == 0);
    http_sink_request_free(&req);
    result_free(&f);
    free(form);
    free(raw);

    /* a host name goes through libcurl's resolver, whose wake-up socket is polled like the others */
    snprintf(url, sizeof(url), "http://localhost:%d/named", http_sink_port(hs));
    struct result l = {0};
    CHECK_INT(curl_client_post(c, url, "text/plain", "", 0, 5000, on_result, &l, NULL), 0);
    run_until(&l.calls, 1, 5000);
    CHECK_INT(l.calls, 1);
    CHECK_INT(l.error, 0);
    CHECK(l.body != NULL && strstr(l.body, "\"path\":\"/named\",\"body_bytes\":0") != NULL);
    result_free(&l);
}

static void test_mail(struct curl_client *c, struct smtp_sink *ss, const char *dir)
{
    char url[128];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", smtp_sink_port(ss));
    struct curl_client_smtp plain = {.url = url, .starttls = CURL_CLIENT_STARTTLS_NONE, .timeout_ms = 5000};

    /* one recipient: envelope, headers, UTF-8 body and dot lines arrive intact */
    const char *one[] = {"ana@example.com"};
    struct result r = {0};
    CHECK_INT(curl_client_mail(c, &plain, "citas@example.org", one, 1, MESSAGE, strlen(MESSAGE), on_result,
                               &r, NULL),
              0);
    run_until(&r.calls, 1, 5000);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, 0);
    CHECK_INT(r.status, 250);
    CHECK_INT(smtp_sink_count(ss), 1);
    check_stored(dir, 1, "X-Sink-From: <citas@example.org>\r\nX-Sink-To: <ana@example.com>\r\n", MESSAGE);
    result_free(&r);

    /* several recipients, with AUTH and STARTTLS "try" (the sink offers none: plain is used) */
    const char *three[] = {"ana@example.com", "luis@example.net", "mar@ejemplo.es"};
    struct curl_client_smtp auth = {.url = url,
                                    .user = "citas",
                                    .password = "secret",
                                    .starttls = CURL_CLIENT_STARTTLS_TRY,
                                    .timeout_ms = 5000};
    struct result m = {0};
    CHECK_INT(curl_client_mail(c, &auth, "citas@example.org", three, 3, MESSAGE, strlen(MESSAGE), on_result,
                               &m, NULL),
              0);
    run_until(&m.calls, 1, 5000);
    CHECK_INT(m.calls, 1);
    CHECK_INT(m.error, 0);
    CHECK_INT(smtp_sink_count(ss), 2);
    check_stored(dir, 2,
                 "X-Sink-From: <citas@example.org>\r\n"
                 "X-Sink-To: <ana@example.com>, <luis@example.net>, <mar@ejemplo.es>\r\n"
                 "X-Sink-Auth: citas\r\n",
                 MESSAGE);
    result_free(&m);

    /* a refused recipient fails the whole transfer; nothing is stored */
    const char *bad[] = {"ana@example.com", "reject-me@example.com"};
    struct result b = {0};
    CHECK_INT(curl_client_mail(c, &plain, "citas@example.org", bad, 2, MESSAGE, strlen(MESSAGE), on_result,
                               &b, NULL),
              0);
    run_until(&b.calls, 1, 5000);
    CHECK_INT(b.calls, 1);
    CHECK_INT(b.error, -EPROTO);
    CHECK(strstr(b.error_text, "550") != NULL);
    CHECK_INT(b.status, 550);
    CHECK_INT(smtp_sink_count(ss), 2);
    result_free(&b);

    /* STARTTLS required but not offered: refused, callback once */
    struct curl_client_smtp tls = plain;
    tls.starttls = CURL_CLIENT_STARTTLS_REQUIRED;
    struct result t = {0};
    CHECK_INT(
        curl_client_mail(c, &tls, "citas@example.org", one, 1, MESSAGE, strlen(MESSAGE), on_result, &t, NULL),
        0);
    run_until(&t.calls, 1, 5000);
    CHECK_INT(t.calls, 1);
    CHECK_INT(t.error, -EPROTO);
    CHECK_INT(smtp_sink_count(ss), 2);
    result_free(&t);
}

/* many transfers at once on one loop, mixed */
static void test_parallel(struct curl_client *c, struct http_sink *hs, struct smtp_sink *ss)
{
    enum { N = 25 };
    char hurl[128], surl[128];
    snprintf(hurl, sizeof(hurl), "http://127.0.0.1:%d/many", http_sink_port(hs));
    snprintf(surl, sizeof(surl), "smtp://127.0.0.1:%d", smtp_sink_port(ss));
    struct curl_client_smtp srv = {.url = surl, .timeout_ms = 10000};
    const char *to[] = {"many@example.com"};
    static struct result rp[N], rm[N];
    unsigned long before = smtp_sink_count(ss);
    int calls = 0;
    for (int i = 0; i < N; i++) {
        rp[i] = (struct result){0};
        rm[i] = (struct result){0};
        CHECK_INT(curl_client_post(c, hurl, "text/plain", "x=1", 3, 10000, on_result, &rp[i], NULL), 0);
        CHECK_INT(curl_client_mail(c, &srv, "citas@example.org", to, 1, MESSAGE, strlen(MESSAGE), on_result,
                                   &rm[i], NULL),
                  0);
    }
    long long deadline = harness_now_ms() + 15000;
    while (calls < 2 * N && harness_now_ms() < deadline) {
        ring_run_once(W.ring, 10);
        calls = 0;
        for (int i = 0; i < N; i++)
            calls += rp[i].calls + rm[i].calls;
    }
    int ok = 1;
    for (int i = 0; i < N; i++) {
        ok &= rp[i].calls == 1 && rp[i].error == 0 && rp[i].status == 200;
        ok &= rm[i].calls == 1 && rm[i].error == 0;
        result_free(&rp[i]);
        result_free(&rm[i]);
    }
    CHECK_INT(calls, 2 * N);
    CHECK(ok);
    CHECK_INT(smtp_sink_count(ss) - before, N);
}

/* a slow transfer does not stop the loop from serving HTTP */
static void test_loop_stays_responsive(struct curl_client *c, struct http_sink *hs)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", http_sink_port(hs));
    static struct prober p;
    p = (struct prober){.port = W.port};
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, prober_main, &p), 0);
    http_sink_set_delay(hs, 1000);
    struct result r = {0};
    long long t0 = harness_now_ms();
    CHECK_INT(
        curl_client_post(c, url, "application/x-www-form-urlencoded", "a=b", 3, 5000, on_result, &r, NULL),
        0);
    run_until(&r.calls, 1, 5000);
    http_sink_set_delay(hs, 0);
    __atomic_store_n(&p.stop, 1, __ATOMIC_SEQ_CST);
    /* the prober's last GET needs the loop */
    for (int i = 0; i < 20; i++)
        ring_run_once(W.ring, 10);
    pthread_join(th, NULL);
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.error, 0);
    CHECK_INT(r.status, 200);
    CHECK(r.at_ms - t0 >= 950);
    int during = 0;
    long long worst = 0; /* reported, not asserted */
    for (int i = 0; i < p.n; i++) {
        if (p.t0[i] >= t0 && p.t1[i] <= r.at_ms) {
            during++;
            if (p.t1[i] - p.t0[i] > worst)
                worst = p.t1[i] - p.t0[i];
        }
    }
    fprintf(stderr, "curl: %d GETs answered during the 1 s POST, slowest %lld ms\n", during, worst);
    /* the loop is not blocked by the transfer: h2o answered while it was pending (speed is measured in
     * loadtest/, not asserted here) */
    CHECK(during >= 1);
    CHECK_INT(p.bad, 0);
    result_free(&r);
}

static void test_errors(struct curl_client *c, struct http_sink *hs, struct ring *ring)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", http_sink_port(hs));

    /* total timeout against a slow server */
    http_sink_set_delay(hs, 1000);
    struct result t = {0};
    long long t0 = harness_now_ms();
    CHECK_INT(curl_client_post(c, url, "text/plain", "x", 1, 200, on_result, &t, NULL), 0);
    run_until(&t.calls, 1, 3000);
    CHECK_INT(t.calls, 1);
    CHECK_INT(t.error, -ETIMEDOUT);
    CHECK(t.at_ms - t0 >= 150); /* not before its time */
    CHECK(t.error_text[0] != '\0');

    /* cancel: the callback runs inside curl_client_cancel(), once */
    struct result k = {0};
    struct curl_client_transfer *h = NULL;
    CHECK_INT(curl_client_post(c, url, "text/plain", "x", 1, 5000, on_result, &k, &h), 0);
    turns(5);
    CHECK_INT(k.calls, 0);
    curl_client_cancel(h);
    CHECK_INT(k.calls, 1);
    CHECK_INT(k.error, -ECANCELED);
    http_sink_set_delay(hs, 0);

    /* connection refused */
    char refused[128];
    snprintf(refused, sizeof(refused), "http://127.0.0.1:%d/", harness_free_port());
    struct result f = {0};
    CHECK_INT(curl_client_post(c, refused, "text/plain", "x", 1, 2000, on_result, &f, NULL), 0);
    run_until(&f.calls, 1, 3000);
    CHECK_INT(f.calls, 1);
    CHECK_INT(f.error, -ECONNREFUSED);

    /* invalid arguments start nothing */
    struct result v = {0};
    CHECK_INT(curl_client_post(c, NULL, "text/plain", "x", 1, 1000, on_result, &v, NULL), -EINVAL);
    CHECK_INT(curl_client_post(c, url, "text/plain\r\nX-Evil: 1", "x", 1, 1000, on_result, &v, NULL),
              -EINVAL);
    CHECK_INT(curl_client_mail(c, &(struct curl_client_smtp){.url = "smtp://127.0.0.1:1"}, "a@b", NULL, 0,
                               "x", 1, on_result, &v, NULL),
              -EINVAL);

    /* a response over the client's limit */
    struct curl_client *small;
    CHECK_INT(curl_client_create(ring, &(struct curl_client_options){.max_response_bytes = 16}, &small), 0);
    struct result s = {0};
    CHECK_INT(curl_client_post(small, url, "text/plain", "x", 1, 2000, on_result, &s, NULL), 0);
    run_until(&s.calls, 1, 3000);
    CHECK_INT(s.calls, 1);
    CHECK_INT(s.error, -EMSGSIZE);

    /* destroy with transfers in flight: each callback once, with -ECANCELED */
    http_sink_set_delay(hs, 1000);
    struct result d1 = {0}, d2 = {0};
    CHECK_INT(curl_client_post(small, url, "text/plain", "x", 1, 5000, on_result, &d1, NULL), 0);
    CHECK_INT(curl_client_post(small, url, "text/plain", "y", 1, 5000, on_result, &d2, NULL), 0);
    turns(5);
    curl_client_destroy(small);
    curl_client_destroy(NULL);
    CHECK(d1.calls == 1 && d2.calls == 1);
    CHECK(d1.error == -ECANCELED && d2.error == -ECANCELED);
    http_sink_set_delay(hs, 0);

    /* nothing runs twice later */
    turns(30);
    CHECK(t.calls == 1 && k.calls == 1 && f.calls == 1 && v.calls == 0 && s.calls == 1);
    CHECK(d1.calls == 1 && d2.calls == 1);
    result_free(&t);
    result_free(&k);
    result_free(&f);
    result_free(&s);
    result_free(&d1);
    result_free(&d2);
}

static void remove_dir(const char *dir)
{
    char path[4200];
    for (unsigned long i = 1; i < 1000; i++) {
        snprintf(path, sizeof(path), "%s/%06lu.eml", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    CHECK_INT(curl_client_global_init(), 0);
    CHECK_INT(worker_start(), 0);

    const char *base = getenv("CITAS_TEST_TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/curl-mail-XXXXXX", base ? base : "/tmp");
    CHECK(mkdtemp(dir) != NULL);

    struct http_sink *hs;
    struct smtp_sink *ss;
    CHECK_INT(http_sink_start(0, NULL, NULL, &hs), 0);
    CHECK_INT(smtp_sink_start(0, dir, &ss), 0);

    struct curl_client *c;
    CHECK_INT(curl_client_create(W.ring, NULL, &c), 0);

    test_post(c, hs);
    test_mail(c, ss, dir);
    test_parallel(c, hs, ss);
    test_loop_stays_responsive(c, hs);
    test_errors(c, hs, W.ring);

    struct curl_client_stats st;
    curl_client_get_stats(c, &st);
    /* 3 + 4 + 50 + 1 + 3 started; failures: refused rcpt, starttls, timeout, cancel, refused */
    CHECK_INT(st.started, 61);
    CHECK_INT(st.finished, 61);
    CHECK_INT(st.failed, 5);
    CHECK_INT(st.in_flight, 0);
    CHECK(W.served >= 1);

    curl_client_destroy(c);
    turns(5); /* cancelled polls and timer complete and free their state */
    http_sink_stop(hs);
    smtp_sink_stop(ss);
    remove_dir(dir);
    worker_stop();
    curl_client_global_cleanup();
    return harness_finish("curl");
}
