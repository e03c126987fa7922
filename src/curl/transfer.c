/* The two kinds of transfer: an HTTP(S) POST and an SMTP submission, each one easy handle. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void transfer_free(struct curl_client_transfer *t)
{
    if (t == NULL)
        return;
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->rcpt);
    free(t->upload);
    free(t->body);
    free(t);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct curl_client_transfer *t = userp;
    size_t n = size * nmemb;
    if (n > t->c->max_response_bytes - t->body_len) {
        t->too_big = 1;
        return 0; /* libcurl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (t->body_len + n + 1 > t->body_cap) {
        size_t cap = t->body_cap ? t->body_cap : 1024;
        while (cap < t->body_len + n + 1)
            cap *= 2;
        char *b = realloc(t->body, cap);
        if (b == NULL)
            return 0;
        t->body = b;
        t->body_cap = cap;
    }
    memcpy(t->body + t->body_len, data, n);
    t->body_len += n;
    t->body[t->body_len] = '\0';
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *userp)
{
    struct curl_client_transfer *t = userp;
    size_t n = size * nmemb;
    if (n > t->upload_len - t->upload_off)
        n = t->upload_len - t->upload_off;
    memcpy(buf, t->upload + t->upload_off, n);
    t->upload_off += n;
    return n;
}

/* Options every transfer shares. Returns CURLE_OK or the first failing option's code. */
static CURLcode setup_common(struct curl_client *c, struct curl_client_transfer *t, const char *url,
                             uint32_t timeout_ms, const char *protocols)
{
    long connect_ms = c->connect_timeout_ms < (long)timeout_ms ? c->connect_timeout_ms : (long)timeout_ms;
    CURL *e = t->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                                        \
    do {                                                                                                     \
        if (rc == CURLE_OK)                                                                                  \
            rc = curl_easy_setopt(e, opt, val);                                                              \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, protocols);
    SET(CURLOPT_PRIVATE, (void *)t);
    SET(CURLOPT_ERRORBUFFER, t->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)t);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response_bytes);
    if (c->ca_file != NULL)
        SET(CURLOPT_CAINFO, c->ca_file);
    return rc;
#undef SET
}

static struct curl_client_transfer *transfer_new(curl_client_cb cb, void *ctx)
{
    struct curl_client_transfer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->easy = curl_easy_init();
    if (t->easy == NULL) {
        free(t);
        return NULL;
    }
    t->cb = cb;
    t->ctx = ctx;
    return t;
}

static int start(struct curl_client *c, struct curl_client_transfer *t, CURLcode rc,
                 struct curl_client_transfer **out)
{
    int err = rc == CURLE_OK ? 0 : rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    if (err == 0)
        err = client_start(c, t);
    if (err != 0) {
        transfer_free(t);
        return err;
    }
    if (out != NULL)
        *out = t;
    return 0;
}

int curl_client_post(struct curl_client *c, const char *url, const char *content_type, const void *body,
                     size_t body_len, uint32_t timeout_ms, curl_client_cb cb, void *ctx,
                     struct curl_client_transfer **out)
{
    if (c == NULL || url == NULL || content_type == NULL || cb == NULL || (body == NULL && body_len > 0))
        return -EINVAL;
    if (strpbrk(content_type, "\r\n") != NULL)
        return -EINVAL;
    struct curl_client_transfer *t = transfer_new(cb, ctx);
    if (t == NULL)
        return -ENOMEM;
    size_t hlen = strlen(content_type) + sizeof("Content-Type: ");
    char *h = malloc(hlen);
    if (h == NULL) {
        transfer_free(t);
        return -ENOMEM;
    }
    snprintf(h, hlen, "Content-Type: %s", content_type);
    struct curl_slist *l = curl_slist_append(NULL, h);
    free(h);
    if (l != NULL)
        t->headers = l;
    /* "Expect:" stops libcurl from waiting for a 100 Continue on large bodies */
    if (l == NULL || (l = curl_slist_append(t->headers, "Expect:")) == NULL) {
        transfer_free(t);
        return -ENOMEM;
    }
    CURLcode rc = setup_common(c, t, url, timeout_ms ? timeout_ms : 10000, "http,https");
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
    if (rc == CURLE_OK) /* the size first: COPYPOSTFIELDS copies that many bytes */
        rc = curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(t->easy, CURLOPT_COPYPOSTFIELDS, body_len ? (const char *)body : "");
    return start(c, t, rc, out);
}

int curl_client_mail(struct curl_client *c, const struct curl_client_smtp *server, const char *from,
                     const char *const *rcpt, size_t nrcpt, const char *message, size_t len,
                     curl_client_cb cb, void *ctx, struct curl_client_transfer **out)
{
    if (c == NULL || server == NULL || server->url == NULL || from == NULL || rcpt == NULL || nrcpt == 0 ||
        (message == NULL && len > 0) || cb == NULL)
        return -EINVAL;
    struct curl_client_transfer *t = transfer_new(cb, ctx);
    if (t == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < nrcpt; i++) {
        struct curl_slist *l = rcpt[i] ? curl_slist_append(t->rcpt, rcpt[i]) : NULL;
        if (l == NULL) {
            transfer_free(t);
            return rcpt[i] ? -ENOMEM : -EINVAL;
        }
        t->rcpt = l;
    }
    t->upload = malloc(len ? len : 1);
    if (t->upload == NULL) {
        transfer_free(t);
        return -ENOMEM;
    }
    if (len > 0)
        memcpy(t->upload, message, len);
    t->upload_len = len;

    long ssl = server->starttls == CURL_CLIENT_STARTTLS_REQUIRED ? CURLUSESSL_ALL
               : server->starttls == CURL_CLIENT_STARTTLS_TRY    ? CURLUSESSL_TRY
                                                                 : CURLUSESSL_NONE;
    CURL *e = t->easy;
    CURLcode rc =
        setup_common(c, t, server->url, server->timeout_ms ? server->timeout_ms : 30000, "smtp,smtps");
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->rcpt);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_USE_SSL, ssl);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_READDATA, (void *)t);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    if (rc == CURLE_OK && server->user != NULL)
        rc = curl_easy_setopt(e, CURLOPT_USERNAME, server->user);
    if (rc == CURLE_OK && server->user != NULL)
        rc = curl_easy_setopt(e, CURLOPT_PASSWORD, server->password ? server->password : "");
    return start(c, t, rc, out);
}
