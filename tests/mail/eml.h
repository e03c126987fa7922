/* A small reader of stored messages for the mail tests: headers, MIME leaf parts, decoders. Independent of
 * src/mail on purpose, so that the tests check the wire format rather than echo the encoder. */
#ifndef CITAS_TEST_MAIL_EML_H
#define CITAS_TEST_MAIL_EML_H

#include <stddef.h>

struct eml_part {
    char *content_type;  /* the whole header value, e.g. "text/plain; charset=UTF-8" */
    char *encoding;      /* Content-Transfer-Encoding or "" */
    char *disposition;   /* Content-Disposition or "" */
    unsigned char *data; /* decoded body (NUL-terminated for convenience) */
    size_t len;
};

struct eml {
    char *raw;
    size_t raw_len;
    int crlf_only; /* every line ends in CRLF */
    int max_line;  /* longest line without its CRLF */
    struct eml_part parts[8];
    int nparts;
};

/* Reads and parses a file. 0 or -1. */
int eml_load(const char *path, struct eml *m);
void eml_free(struct eml *m);

/* The unfolded value of the first top-level header `name` into out (size n), "" when absent. Encoded
 * words (=?UTF-8?B/Q?...?=) are decoded when decode is set. */
const char *eml_header(const struct eml *m, const char *name, int decode, char *out, size_t n);

/* The first leaf part whose Content-Type starts with `type` (case-insensitive), or NULL. */
const struct eml_part *eml_part(const struct eml *m, const char *type);

/* Decoders; return a malloc'ed NUL-terminated buffer and its length. */
unsigned char *eml_decode_qp(const char *s, size_t len, size_t *out_len);
unsigned char *eml_decode_b64(const char *s, size_t len, size_t *out_len);

#endif
