/*
 * siteverify-stub [--port P] [--delay-ms N]: a local stand-in for hCaptcha's siteverify API, on
 * http_sink. It answers any POST with form fields secret/response like hCaptcha does:
 *   - secret missing                    -> success false, "missing-input-secret"
 *   - secret not the published test one -> success false, "invalid-input-secret"
 *   - response missing                  -> success false, "missing-input-response"
 *   - response is the published test response or starts with "pass" -> success true
 *   - anything else                     -> success false, "invalid-input-response"
 * Runs until SIGINT or SIGTERM.
 */
#include "http_sink.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SECRET   "0x0000000000000000000000000000000000000000"
#define TEST_RESPONSE "10000000-aaaa-bbbb-cccc-000000000001"

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
    (void)ctx;
    char secret[256], response[4096];
    const char *error = NULL;
    if (form_field(req->body, req->body_len, "secret", secret, sizeof(secret)) != 0 || !secret[0])
        error = "missing-input-secret";
    else if (strcmp(secret, TEST_SECRET) != 0)
        error = "invalid-input-secret";
    else if (form_field(req->body, req->body_len, "response", response, sizeof(response)) != 0 ||
             !response[0])
        error = "missing-input-response";
    else if (strcmp(response, TEST_RESPONSE) != 0 && strncmp(response, "pass", 4) != 0)
        error = "invalid-input-response";
    char buf[256];
    int n;
    if (error == NULL)
        n = snprintf(
            buf, sizeof(buf),
            "{\"success\":true,\"challenge_ts\":\"2024-01-01T00:00:00Z\",\"hostname\":\"localhost\"}");
    else
        n = snprintf(buf, sizeof(buf), "{\"success\":false,\"error-codes\":[\"%s\"]}", error);
    res->body = strdup(buf);
    res->body_len = res->body ? (size_t)n : 0;
}

int main(int argc, char **argv)
{
    int port = 8025, delay = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            delay = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: siteverify-stub [--port P] [--delay-ms N]\n");
            return 2;
        }
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct http_sink *s;
    int rc = http_sink_start(port, on_request, NULL, &s);
    if (rc != 0) {
        fprintf(stderr, "siteverify-stub: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(-rc));
        return 1;
    }
    http_sink_set_delay(s, delay);
    printf("siteverify-stub: listening on 127.0.0.1:%d\n", http_sink_port(s));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    http_sink_stop(s);
    return 0;
}
