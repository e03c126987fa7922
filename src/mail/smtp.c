/* The SMTP side shared by the outbox sender and the login-code queue: relay settings, the From identity, the
 * configuration defaults and the hand-over of one built message to curl. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *p, int *err)
{
    if (p == NULL || *p == '\0')
        return NULL;
    char *d = strdup(p);
    if (d == NULL)
        *err = 1;
    return d;
}

int mail_smtp_init(struct mail_smtp *m, const struct mail_config *cfg)
{
    memset(m, 0, sizeof(*m));
    if (cfg->smtp_url == NULL || cfg->smtp_url[0] == '\0')
        return -EINVAL;
    const char *from = cfg->from && cfg->from[0] ? cfg->from : "citas <no-reply@citas.local>";
    char name[MAIL_FROM_MAX + 1];
    if (strlen(from) > MAIL_FROM_MAX || mail_from_parse(from, name, m->from_addr) != 0)
        return -EINVAL;
    int err = 0;
    m->url = dup_or_null(cfg->smtp_url, &err);
    m->user = dup_or_null(cfg->smtp_user, &err);
    m->password = m->user ? dup_or_null(cfg->smtp_password, &err) : NULL;
    m->from = dup_or_null(from, &err);
    m->domain = strchr(m->from_addr, '@') + 1; /* mail_from_parse() accepts only addresses with one */
    m->starttls = cfg->smtp_starttls;
    m->timeout_ms = cfg->smtp_timeout_ms ? cfg->smtp_timeout_ms : 30000;
    if (err) {
        mail_smtp_free(m);
        return -ENOMEM;
    }
    return 0;
}

void mail_smtp_free(struct mail_smtp *m)
{
    free(m->url);
    free(m->user);
    free(m->password);
    free(m->from);
    m->url = m->user = m->password = m->from = NULL;
}

int mail_smtp_send(struct curl_client *curl, const struct mail_smtp *m, const char *to,
                   const struct mail_buf *b, curl_client_cb cb, void *ctx, struct curl_client_transfer **out)
{
    struct curl_client_smtp srv = {
        .url = m->url,
        .user = m->user,
        .password = m->password,
        .starttls = m->starttls,
        .timeout_ms = m->timeout_ms,
    };
    const char *rcpt[] = {to};
    return curl_client_mail(curl, &srv, m->from_addr, rcpt, 1, b->p, b->len, cb, ctx, out);
}

void mail_config_defaults(struct mail_config *c)
{
    c->poll_ms = c->poll_ms ? c->poll_ms : 200;
    c->batch = c->batch ? c->batch : 16;
    c->max_in_flight = c->max_in_flight ? c->max_in_flight : 256;
    if (c->batch > c->max_in_flight)
        c->batch = c->max_in_flight;
    c->max_attempts = c->max_attempts ? c->max_attempts : 8;
    c->smtp_timeout_ms = c->smtp_timeout_ms ? c->smtp_timeout_ms : 30000;
}
