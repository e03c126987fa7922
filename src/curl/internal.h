/* Inside the curl module: shared by the multi/ring bridge (client.c) and the transfers (transfer.c). */
#ifndef CITAS_CURL_INTERNAL_H
#define CITAS_CURL_INTERNAL_H

#include "citas/curl.h"
#include "citas/ring.h"

#include <curl/curl.h>

struct curl_client_transfer {
    struct curl_client *c;
    CURL *easy;
    curl_client_cb cb;
    void *ctx;
    struct curl_slist *headers; /* HTTP request headers */
    struct curl_slist *rcpt;    /* SMTP recipients */
    char *upload;               /* SMTP message, read by on_read */
    size_t upload_len, upload_off;
    char *body; /* response body, always NUL-terminated once allocated */
    size_t body_len, body_cap;
    int too_big;
    char errbuf[CURL_ERROR_SIZE];
    struct curl_client_transfer *prev, *next;
};

struct curl_client {
    struct ring *ring;
    CURLM *multi;
    struct curl_timer *timer;
    struct curl_sock *socks;                /* sockets libcurl currently watches */
    struct curl_client_transfer *transfers; /* in flight */
    size_t max_response_bytes;
    long connect_timeout_ms;
    char *ca_file, *user_agent;
    struct curl_client_stats stats;
};

/* Adds a configured easy handle to the multi and links the transfer; 0 or a negative errno (then the
 * caller frees the transfer with transfer_free()). */
int client_start(struct curl_client *c, struct curl_client_transfer *t);

/* Removes the transfer from the multi, runs its callback (cancelled: with -ECANCELED), frees it. */
void client_finish(struct curl_client_transfer *t, CURLcode code, int cancelled);

void transfer_free(struct curl_client_transfer *t);

#endif
