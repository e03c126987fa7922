/*
 * MIME: turns an outbox row into the text handed to SMTP. multipart/alternative (text, then HTML, both
 * quoted-printable so a code stays readable in the raw message), inside multipart/mixed when there is an
 * attachment (base64). Non-ASCII header text is RFC 2047 base64 encoded words. CRLF everywhere.
 * Boundaries contain "=_", which neither quoted-printable nor base64 output can contain.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void add_base64(struct mail_buf *b, const unsigned char *p, size_t len, size_t line_chars)
{
    size_t col = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63], i + 1 < len ? b64[(v >> 6) & 63] : '=',
                     i + 2 < len ? b64[v & 63] : '='};
        mail_buf_add(b, q, 4);
        col += 4;
        if (line_chars && col >= line_chars && i + 3 < len) {
            mail_buf_add(b, "\r\n", 2);
            col = 0;
        }
    }
}

/* Header text starting at column col: as is when printable ASCII that fits the line, else encoded words
 * (RFC 2047) that never split a UTF-8 sequence, folded so that no line passes 76 characters. Returns the
 * column where the text ends. */
static size_t add_header_text(struct mail_buf *b, const char *s, size_t col)
{
    size_t len = strlen(s), i = 0;
    int ascii = 1;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            ascii = 0;
    if (ascii && strstr(s, "=?") == NULL && col + len <= 76) {
        mail_buf_str(b, s);
        return col + len;
    }
    while (i < len) {
        if (i > 0) {
            mail_buf_str(b, "\r\n ");
            col = 1;
        }
        /* "=?UTF-8?B?" + "?=" take 12 columns; every 3 bytes take 4 */
        size_t max = col + 12 + 8 <= 76 ? (76 - col - 12) / 4 * 3 : 3, n = 0;
        while (i + n < len) {
            size_t c = 1;
            while (i + n + c < len && ((unsigned char)s[i + n + c] & 0xc0) == 0x80)
                c++;
            if (n + c > max)
                break;
            n += c;
        }
        if (n == 0) /* a character longer than max, or not UTF-8 (callers check): never loop */
            n = len - i < 4 ? len - i : 4;
        mail_buf_str(b, "=?UTF-8?B?");
        add_base64(b, (const unsigned char *)s + i, n, 0);
        mail_buf_str(b, "?=");
        col += 12 + (n + 2) / 3 * 4;
        i += n;
    }
    return col;
}

/* Quoted-printable (RFC 2045): lines of at most 76 characters, LF or CRLF in, CRLF out. */
static void add_qp(struct mail_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\r' && p[1] == '\n')
            continue;
        if (c == '\n') {
            mail_buf_add(b, "\r\n", 2);
            col = 0;
            continue;
        }
        int at_eol = p[1] == '\0' || p[1] == '\n' || (p[1] == '\r' && p[2] == '\n');
        /* literal: printable ASCII except '='; spaces only when not ending a line; a '.' starting a line
         * is encoded so that no relay's dot handling can touch it */
        int literal = (c >= 33 && c <= 126 && c != '=' && !(c == '.' && col == 0)) ||
                      ((c == ' ' || c == '\t') && !at_eol);
        size_t w = literal ? 1 : 3;
        if (col + w > 75) { /* leave room for the soft break '=' */
            mail_buf_add(b, "=\r\n", 3);
            col = 0;
            if (c == '.')
                literal = 0, w = 3;
        }
        if (literal) {
            mail_buf_add(b, p, 1);
        } else {
            char e[3] = {'=', hex[c >> 4], hex[c & 15]};
            mail_buf_add(b, e, 3);
        }
        col += w;
    }
    if (col > 0)
        mail_buf_add(b, "\r\n", 2);
}

int mail_from_parse(const char *from, char *name, char *addr)
{
    const char *lt = strrchr(from, '<');
    name[0] = addr[0] = '\0';
    if (lt == NULL) {
        strcpy(addr, from);
    } else {
        const char *gt = strchr(lt, '>');
        if (gt == NULL || gt[1] != '\0')
            return -EINVAL;
        memcpy(addr, lt + 1, (size_t)(gt - lt - 1));
        addr[gt - lt - 1] = '\0';
        size_t n = (size_t)(lt - from);
        while (n > 0 && from[n - 1] == ' ')
            n--;
        size_t start = 0;
        while (start < n && from[start] == ' ')
            start++;
        if (n - start >= 2 && from[start] == '"' && from[n - 1] == '"')
            start++, n--;
        memcpy(name, from + start, n - start);
        name[n - start] = '\0';
        if (!mail_utf8_ok(name, strlen(name), 0) || strpbrk(name, "\"\\") != NULL)
            return -EINVAL;
    }
    return mail_addr_ok(addr) ? 0 : -EINVAL;
}

static void add_from(struct mail_buf *b, const char *from)
{
    char name[MAIL_FROM_MAX + 1], addr[MAIL_FROM_MAX + 1];
    if (strlen(from) > MAIL_FROM_MAX || mail_from_parse(from, name, addr) != 0) { /* checked at creation */
        b->err = -EINVAL;
        return;
    }
    mail_buf_str(b, "From: ");
    if (name[0] != '\0') {
        int ascii = 1;
        for (const char *p = name; *p; p++)
            ascii &= (unsigned char)*p < 0x7f;
        size_t col = 6;
        if (ascii) {
            mail_buf_printf(b, "\"%s\"", name);
            col += strlen(name) + 2;
        } else {
            col = add_header_text(b, name, col);
        }
        mail_buf_str(b, col + strlen(addr) + 3 > 76 ? "\r\n " : " ");
    }
    mail_buf_printf(b, "<%s>\r\n", addr);
}

static void add_alternative(struct mail_buf *b, const struct mail_mime_in *in, const char *boundary)
{
    mail_buf_printf(b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
    mail_buf_printf(b,
                    "--%s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                    boundary);
    add_qp(b, in->text);
    mail_buf_printf(b,
                    "--%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                    boundary);
    add_qp(b, in->html);
    mail_buf_printf(b, "--%s--\r\n", boundary);
}

int mail_mime_build(const struct mail_mime_in *in, struct mail_buf *b)
{
    char date[64];
    struct tm tm;
    time_t t = (time_t)in->date;
    if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
        return -EINVAL;
    add_from(b, in->from);
    mail_buf_printf(b, "To: <%s>\r\nSubject: ", in->to);
    add_header_text(b, in->subject, 9);
    mail_buf_printf(b,
                    "\r\nDate: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\nContent-Language: %s\r\n"
                    "Auto-Submitted: auto-generated\r\nX-Citas-Kind: %s\r\n",
                    date, in->message_id, in->lang, in->kind);
    if (in->att_name == NULL) {
        add_alternative(b, in, "=_citas_alt");
        return b->err;
    }
    mail_buf_str(b, "Content-Type: multipart/mixed; boundary=\"=_citas_mixed\"\r\n\r\n"
                    "This is a multi-part message in MIME format.\r\n--=_citas_mixed\r\n");
    add_alternative(b, in, "=_citas_alt");
    mail_buf_printf(b,
                    "--=_citas_mixed\r\nContent-Type: %s; name=\"%s\"\r\n"
                    "Content-Disposition: attachment; filename=\"%s\"\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n",
                    in->att_type, in->att_name, in->att_name);
    add_base64(b, in->att_data, in->att_len, 76);
    mail_buf_str(b, "\r\n--=_citas_mixed--\r\n");
    return b->err;
}
