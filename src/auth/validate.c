/*
 * Input checks at the edge: email addresses, names, passwords, identity documents (CURP with RENAPO's
 * check digit, passport, consular ID), roles and office codes. Pure functions, shared with citasctl.
 */
#include "citas/auth.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/*
 * Decodes one UTF-8 sequence at s[*i..len): the code point, or -1 for invalid UTF-8 (overlong forms,
 * surrogates, past U+10FFFF, truncated).
 */
static int32_t utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[*i];
    int32_t cp;
    size_t n;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        cp = c & 0x1F, n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        cp = c & 0x0F, n = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
        cp = c & 0x07, n = 3;
    } else {
        return -1;
    }
    for (size_t k = 1; k <= n; k++) {
        if (*i + k >= len || (s[*i + k] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[*i + k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *i += n + 1;
    return cp;
}

/* Control characters, and the invisible bidirectional overrides that make text display as something else. */
static int is_control(int32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

/* Counts code points; -1 on invalid UTF-8 or a control character. */
static long clean_text_chars(const char *s, size_t len)
{
    long n = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp = utf8_next((const unsigned char *)s, len, &i);
        if (cp < 0 || is_control(cp))
            return -1;
        n++;
    }
    return n;
}

int auth_name_check(const char *s, size_t len, const char **why)
{
    if (len == 0) {
        *why = "must not be empty";
        return -1;
    }
    if (len > AUTH_NAME_MAX) {
        *why = "is too long (at most 200 bytes)";
        return -1;
    }
    if (clean_text_chars(s, len) < 0) {
        *why = "must be valid UTF-8 without control characters";
        return -1;
    }
    size_t spaces = 0;
    while (spaces < len && s[spaces] == ' ')
        spaces++;
    if (spaces == len) {
        *why = "must not be blank";
        return -1;
    }
    return 0;
}

int auth_password_check(const char *s, size_t len, const char **why)
{
    if (len > AUTH_PASSWORD_MAX) {
        *why = "is too long (at most 256 bytes)";
        return -1;
    }
    long chars = clean_text_chars(s, len);
    if (chars < 0) {
        *why = "must be valid UTF-8 without control characters";
        return -1;
    }
    if (chars < AUTH_PASSWORD_MIN) {
        *why = "is too short (at least 10 characters)";
        return -1;
    }
    return 0;
}

static int local_char(unsigned char c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+/=?^_`{|}~-.", c) != NULL);
}

int auth_email_parse(const char *s, size_t len, char *out, const char **why)
{
    *why = "is not an email address (name@example.org)";
    if (len < 6 || len > AUTH_EMAIL_MAX) {
        if (len > AUTH_EMAIL_MAX)
            *why = "is too long (at most 254 bytes)";
        return -1;
    }
    const char *at = memchr(s, '@', len);
    if (at == NULL || memchr(at + 1, '@', len - (size_t)(at - s) - 1) != NULL)
        return -1;
    size_t local = (size_t)(at - s), dlen = len - local - 1;
    if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.')
        return -1;
    for (size_t i = 0; i < local; i++)
        if (!local_char((unsigned char)s[i]) || (s[i] == '.' && s[i + 1] == '.'))
            return -1;
    /* domain: LDH labels of 1..63, at least two, the last not all digits */
    const char *d = at + 1;
    size_t labels = 0, start = 0, last = 0;
    for (size_t i = 0; i <= dlen; i++) {
        if (i == dlen || d[i] == '.') {
            size_t l = i - start;
            if (l == 0 || l > 63 || d[start] == '-' || d[i - 1] == '-')
                return -1;
            labels++;
            last = start;
            start = i + 1;
        } else if (!isalnum((unsigned char)d[i]) && d[i] != '-') {
            return -1;
        }
    }
    int tld_alpha = 0;
    for (size_t i = last; i < dlen; i++)
        tld_alpha |= isalpha((unsigned char)d[i]) != 0;
    if (labels < 2 || !tld_alpha)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[len] = '\0';
    return 0;
}

/* RENAPO's dictionary for the check digit: 0-9, A-N, Ñ, O-Z (Ñ never appears in a CURP, but counts). */
static int curp_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'N')
        return c - 'A' + 10;
    if (c >= 'O' && c <= 'Z')
        return c - 'O' + 25;
    return -1;
}

static const char *const curp_states[] = {"AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT",
                                          "GR", "HG", "JC", "MC", "MN", "MS", "NT", "NL", "OC", "PL", "QT",
                                          "QR", "SP", "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS", "NE"};

static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static int is_consonant(char c)
{
    return is_upper(c) && strchr("AEIOU", c) == NULL;
}

int auth_curp_valid(const char *c, size_t len)
{
    if (len != 18)
        return 0;
    for (int i = 0; i < 4; i++)
        if (!is_upper(c[i]))
            return 0;
    for (int i = 4; i < 10; i++)
        if (!is_digit(c[i]))
            return 0;
    if (c[10] != 'H' && c[10] != 'M' && c[10] != 'X')
        return 0;
    int state = 0;
    for (size_t i = 0; i < sizeof(curp_states) / sizeof(curp_states[0]); i++)
        state |= c[11] == curp_states[i][0] && c[12] == curp_states[i][1];
    if (!state)
        return 0;
    for (int i = 13; i < 16; i++)
        if (!is_consonant(c[i]))
            return 0;
    if (!is_digit(c[16]) && !is_upper(c[16]))
        return 0;
    if (!is_digit(c[17]))
        return 0;
    /* birth date: the 17th character is a digit for births up to 1999, a letter from 2000 */
    int yy = (c[4] - '0') * 10 + (c[5] - '0'), mm = (c[6] - '0') * 10 + (c[7] - '0'),
        dd = (c[8] - '0') * 10 + (c[9] - '0');
    int year = (is_digit(c[16]) ? 1900 : 2000) + yy;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mm < 1 || mm > 12 || dd < 1)
        return 0;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (dd > mdays[mm - 1] + (mm == 2 && leap))
        return 0;
    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += curp_value(c[i]) * (18 - i);
    return (10 - sum % 10) % 10 == c[17] - '0';
}

int auth_document_parse(enum auth_doc_type type, const char *s, size_t len, char *out, const char **why)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '-')
            continue;
        if (!isalnum((unsigned char)ch) || (unsigned char)ch >= 0x80) {
            *why = "may contain only letters, digits, spaces and hyphens";
            return -1;
        }
        if (n == AUTH_DOC_MAX) {
            *why = "is too long";
            return -1;
        }
        out[n++] = (char)toupper((unsigned char)ch);
    }
    out[n] = '\0';
    switch (type) {
    case AUTH_DOC_CURP:
        if (!auth_curp_valid(out, n)) {
            *why = "is not a valid CURP (18 characters with a matching check digit)";
            return -1;
        }
        return 0;
    case AUTH_DOC_PASSPORT:
        if (n != 9 || !is_upper(out[0]))
            goto bad_passport;
        for (size_t i = 1; i < 9; i++)
            if (!is_digit(out[i]))
                goto bad_passport;
        return 0;
    bad_passport:
        *why = "is not a Mexican passport number (a letter and 8 digits)";
        return -1;
    case AUTH_DOC_CONSULAR_ID:
        if (n < 6 || n > 20) {
            *why = "is not a consular ID number (6 to 20 letters and digits)";
            return -1;
        }
        return 0;
    }
    *why = "has an unknown document type";
    return -1;
}

static const char *const doc_names[] = {"curp", "passport", "consular_id"};

const char *auth_doc_type_name(enum auth_doc_type t)
{
    return (unsigned)t < 3 ? doc_names[t] : NULL;
}

int auth_doc_type_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcasecmp(name, doc_names[i]) == 0)
            return i;
    return -1;
}

static const char *const role_names[] = {"citizen", "consular_staff", "consular_admin", "helpdesk",
                                         "sysadmin"};

const char *auth_role_name(enum auth_role r)
{
    return (unsigned)r < 5 ? role_names[r] : NULL;
}

int auth_role_parse(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(name, role_names[i]) == 0)
            return i;
    return -1;
}

int auth_office_code_valid(const char *code, size_t len)
{
    if (len == 0 || len > AUTH_OFFICE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)code[i]) && code[i] != '_' && code[i] != '-')
            return 0;
    return 1;
}
