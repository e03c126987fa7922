/* siteverify_stub: see siteverify_stub.h. */
#include "siteverify_stub.h"
#include "http_sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct siteverify_stub {
    struct http_sink *sink;
    pthread_mutex_t lock;
    char hostname[256];
};

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The url-decoded value of field `name` in an x-www-form-urlencoded body, or -1 if absent. */
static int form_field(const char *body, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name), i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i > nlen && memcmp(body + i, name, nlen) == 0 && body[i + nlen] == '=') {
            size_t o = 0;
            for (size_t j = i + nlen + 1; j < end && o + 1 < cap; j++) {
                if (body[j] == '+')
                    out[o++] = ' ';
                else if (body[j] == '%' && j + 2 < end && hexval(body[j + 1]) >= 0 &&
                         hexval(body[j + 2]) >= 0) {
                    out[o++] = (char)(hexval(body[j + 1]) * 16 + hexval(body[j + 2]));
                    j += 2;
                } else
                    out[o++] = body[j];
            }
            out[o] = '\0';
            return 0;
        }
        i = end + 1;
    }
    return -1;
}

static void on_request(const struct http_sink_request *req, struct http_sink_response *res, void *ctx)
{
    struct siteverify_stub *s = ctx;
    char secret[256], sitekey[256], response[20000];
    const char *error = NULL;
    if (form_field(req->body, req->body_len, "secret", secret, sizeof(secret)) != 0 || !secret[0])
        error = "missing-input-secret";
    else if (strcmp(secret, SITEVERIFY_TEST_SECRET) != 0)
        error = "invalid-input-secret";
    else if (form_field(req->body, req->body_len, "sitekey", sitekey, sizeof(sitekey)) == 0 &&
             strcmp(sitekey, SITEVERIFY_TEST_SITEKEY) != 0)
        error = "sitekey-secret-mismatch";
    else if (form_field(req->body, req->body_len, "response", response, sizeof(response)) != 0 ||
             !response[0])
        error = "missing-input-response";
    else if (strcmp(response, SITEVERIFY_TEST_RESPONSE) != 0 && strncmp(response, "pass", 4) != 0)
        error = "invalid-input-response";
    char buf[512];
    int n;
    if (error == NULL) {
        pthread_mutex_lock(&s->lock);
        n = snprintf(buf, sizeof(buf),
                     "{\"success\":true,\"challenge_ts\":\"2024-01-01T00:00:00Z\",\"hostname\":\"%s\"}",
                     s->hostname);
        pthread_mutex_unlock(&s->lock);
    } else {
        n = snprintf(buf, sizeof(buf), "{\"success\":false,\"error-codes\":[\"%s\"]}", error);
    }
    res->body = strdup(buf);
    res->body_len = res->body ? (size_t)n : 0;
}

int siteverify_stub_start(int port, struct siteverify_stub **out)
{
    struct siteverify_stub *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    strcpy(s->hostname, "localhost");
    int rc = http_sink_start(port, on_request, s, &s->sink);
    if (rc != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int siteverify_stub_port(const struct siteverify_stub *s)
{
    return http_sink_port(s->sink);
}

void siteverify_stub_set_delay(struct siteverify_stub *s, int ms)
{
    http_sink_set_delay(s->sink, ms);
}

void siteverify_stub_set_hostname(struct siteverify_stub *s, const char *hostname)
{
    pthread_mutex_lock(&s->lock);
    /* JSON-safe: anything but printable ASCII without quotes and backslashes becomes '?'. */
    size_t i = 0;
    for (; hostname[i] && i + 1 < sizeof(s->hostname); i++) {
        char ch = hostname[i];
        s->hostname[i] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? ch : '?';
    }
    s->hostname[i] = '\0';
    pthread_mutex_unlock(&s->lock);
}

struct http_sink *siteverify_stub_sink(struct siteverify_stub *s)
{
    return s->sink;
}

void siteverify_stub_stop(struct siteverify_stub *s)
{
    if (s == NULL)
        return;
    http_sink_stop(s->sink);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
