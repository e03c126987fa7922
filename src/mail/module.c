/* mail as a citasd module: worker 0 runs the outbox sender; every worker may enqueue through its pool. */
#include "citas/curl.h"
#include "citas/mail.h"
#include "citas/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const struct server_config_key keys[] = {
    {"smtp_url", "smtp://127.0.0.1:2525"},
    {"smtp_user", ""},
    {"smtp_password", ""},
    {"smtp_starttls", "try"},
    {"smtp_timeout_ms", "30000"},
    {"mail_from", "citas <no-reply@citas.local>"},
    {"mail_poll_ms", "200"},
    {"mail_batch", "16"},
    {"mail_max_in_flight", "256"},
    {"mail_max_attempts", "8"},
    {"mail_retry_base_ms", "5000"},
    {"mail_retry_max_ms", "600000"},
    {"mail_lease_ms", "120000"},
    {"mail_busy_requests", "500"},
    {"mail_busy_max_in_flight", "8"},
    {"mail_busy_pause_ms", "10000"},
    {NULL, NULL},
};

static int number(const struct server_config *cfg, const char *key, uint32_t *out)
{
    char err[160];
    uint64_t v;
    if (server_config_uint(cfg, key, &v, err, sizeof(err)) != 0 || v > UINT32_MAX) {
        fprintf(stderr, "citasd: %s\n", err);
        return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

/* worker 0's: the outbox sender and the quick queue's drainer */
struct senders {
    struct mail_sender *outbox;
    struct mail_quick *quick;
    uint32_t busy_requests; /* the outbox sender yields while this many requests wait on backends; 0: never */
};

static int busy(void *arg)
{
    const struct senders *s = arg;
    return server_busy(s->busy_requests);
}

static void worker_stop(void *state)
{
    struct senders *s = state;
    if (s == NULL)
        return;
    mail_quick_destroy(s->quick);
    mail_sender_destroy(s->outbox);
    free(s);
}

static int worker_init(struct server_worker *w, void **state)
{
    const struct server_config *cfg = server_worker_config(w);
    uint32_t busy_requests = 0;
    struct mail_config mc = {
        .smtp_url = server_config_get(cfg, "smtp_url"),
        .smtp_user = server_config_get(cfg, "smtp_user"),
        .smtp_password = server_config_get(cfg, "smtp_password"),
        .from = server_config_get(cfg, "mail_from"),
    };
    if (mail_starttls_parse(server_config_get(cfg, "smtp_starttls"), &mc.smtp_starttls) != 0) {
        fprintf(stderr, "citasd: smtp_starttls: expected none, try or required\n");
        return -EINVAL;
    }
    if (number(cfg, "smtp_timeout_ms", &mc.smtp_timeout_ms) != 0 ||
        number(cfg, "mail_poll_ms", &mc.poll_ms) != 0 || number(cfg, "mail_batch", &mc.batch) != 0 ||
        number(cfg, "mail_max_in_flight", &mc.max_in_flight) != 0 ||
        number(cfg, "mail_max_attempts", &mc.max_attempts) != 0 ||
        number(cfg, "mail_retry_base_ms", &mc.retry_base_ms) != 0 ||
        number(cfg, "mail_retry_max_ms", &mc.retry_max_ms) != 0 ||
        number(cfg, "mail_lease_ms", &mc.lease_ms) != 0 ||
        number(cfg, "mail_busy_max_in_flight", &mc.busy_max_in_flight) != 0 ||
        number(cfg, "mail_busy_pause_ms", &mc.busy_pause_ms) != 0 ||
        number(cfg, "mail_busy_requests", &busy_requests) != 0)
        return -EINVAL;
    /* one sender per process is enough (its claims are SKIP LOCKED, so several instances share the outbox),
     * on the background worker: its SMTP transfers then never lengthen a request worker's loop turns */
    if (!server_worker_is_background(w))
        return 0;
    struct senders *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->busy_requests = busy_requests;
    mc.busy = busy;
    mc.busy_arg = s;
    int rc = mail_sender_create(server_worker_ring(w), server_worker_pg(w), server_worker_curl(w), &mc,
                                &s->outbox);
    if (rc == 0)
        rc = mail_quick_create(server_worker_ring(w), server_worker_redis(w), server_worker_curl(w), &mc,
                               &s->quick);
    if (rc != 0) {
        fprintf(stderr, "citasd: mail sender: %s\n",
                rc == -EINVAL ? "invalid smtp_url or mail_from" : "cannot start");
        worker_stop(s);
        return rc;
    }
    *state = s;
    return 0;
}

const struct server_module mail_server_module = {
    .name = "mail",
    .keys = keys,
    .worker_init = worker_init,
    .worker_stop = worker_stop,
    .background = 1,
};
