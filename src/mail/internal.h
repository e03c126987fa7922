/* Inside the mail module: a growable string, input checks and the MIME builder. */
#ifndef CITAS_MAIL_INTERNAL_H
#define CITAS_MAIL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "citas/curl.h"
#include "citas/mail.h"

/* A growable NUL-terminated buffer; after an allocation failure it stays failed (err = -ENOMEM) and
 * further appends do nothing, so callers check once at the end. */
struct mail_buf {
    char *p;
    size_t len, cap;
    int err;
};

void mail_buf_add(struct mail_buf *b, const void *data, size_t len);
void mail_buf_str(struct mail_buf *b, const char *s);
void mail_buf_printf(struct mail_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mail_buf_free(struct mail_buf *b);

/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF) without C0/C1 controls or DEL;
 * allow_newline also admits LF. */
int mail_utf8_ok(const char *s, size_t len, int allow_newline);
/* 1 when params[i]'s key is not the key of a later parameter of the n (rendering uses the last one). */
int mail_param_last(const struct mail_param *params, size_t n, size_t i);
/* A bare address local@domain: printable ASCII without spaces or <>()[],;:"\ , one @, at most 254. */
int mail_addr_ok(const char *s);

/* A message as stored in the outbox, ready to be turned into MIME text. */
struct mail_mime_in {
    const char *from;       /* From header value, checked by mail_from_parse() */
    const char *to;         /* bare address */
    const char *message_id; /* without <>, e.g. "42.1700000000000000@citas.local" */
    const char *kind;       /* X-Citas-Kind */
    const char *lang;       /* Content-Language */
    const char *subject;    /* UTF-8 */
    const char *text;       /* UTF-8, LF or CRLF line ends */
    const char *html;
    const char *att_name; /* NULL: no attachment */
    const char *att_type;
    const unsigned char *att_data;
    size_t att_len;
    int64_t date; /* seconds since the epoch for the Date header */
};

/* Builds the RFC 5322/MIME message (CRLF line ends) into b. 0 or -ENOMEM. */
int mail_mime_build(const struct mail_mime_in *in, struct mail_buf *b);

#define MAIL_FROM_MAX 320

/* Splits a From value ("Name <addr>" or "addr") into a display name (may be empty) and a bare address.
 * 0 or -EINVAL. name and addr must hold strlen(from) + 1 bytes. */
int mail_from_parse(const char *from, char *name, char *addr);

/* --- the SMTP side of the senders (smtp.c) --- */

/* Relay, credentials and From identity copied from a mail_config; owned by one sender, freed by
 * mail_smtp_free(). */
struct mail_smtp {
    char *url, *user, *password; /* user NULL: no AUTH */
    char *from;                  /* the From header value */
    char from_addr[MAIL_FROM_MAX + 1];
    const char *domain; /* of from_addr, for Message-IDs */
    enum curl_client_starttls starttls;
    uint32_t timeout_ms;
};
/* Fills m from cfg (From defaults to "citas <no-reply@citas.local>"). 0, -EINVAL (no relay, bad From) or
 * -ENOMEM; on error nothing is left to free. */
int mail_smtp_init(struct mail_smtp *m, const struct mail_config *cfg);
void mail_smtp_free(struct mail_smtp *m);
/* Hands the built message b to the relay for one recipient; as curl_client_mail(). */
int mail_smtp_send(struct curl_client *curl, const struct mail_smtp *m, const char *to,
                   const struct mail_buf *b, curl_client_cb cb, void *ctx, struct curl_client_transfer **out);
/* The defaults both senders share: poll 200 ms, batch 16 (at most max_in_flight), 256 in flight, 8 attempts,
 * SMTP timeout 30 s. */
void mail_config_defaults(struct mail_config *c);

#endif
