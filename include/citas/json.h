/*
 * json: a strict JSON reader for request bodies and a small writer for responses.
 *
 * The reader parses a whole document into a tree allocated from an h2o memory pool (the request's), so
 * nothing is freed by hand. It refuses what a careful API should refuse: invalid UTF-8 (overlong forms,
 * surrogates, code points past U+10FFFF), unescaped control characters, lone surrogate escapes, duplicate
 * object keys, nesting deeper than JSON_MAX_DEPTH, numbers that are not finite doubles, and anything after
 * the document. Strings are decoded (escapes resolved) and NUL-terminated; a string holding U+0000 is
 * refused so that C string handling stays safe.
 *
 * The writer appends to a growable buffer in the same pool and escapes every string it is given.
 */
#ifndef CITAS_JSON_H
#define CITAS_JSON_H

#include <stddef.h>
#include <h2o.h>

#define JSON_MAX_DEPTH 32

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
    enum json_type type;
    double number;             /* JSON_NUMBER */
    const char *str;           /* JSON_STRING: decoded UTF-8, NUL-terminated */
    size_t len;                /* JSON_STRING: bytes; JSON_ARRAY/JSON_OBJECT: members */
    const char **keys;         /* JSON_OBJECT: the members' keys (decoded) */
    struct json_value **items; /* JSON_ARRAY/JSON_OBJECT: the members */
};

/*
 * Parses buf[0..len). Returns the root, or NULL with a short English reason in *err (static storage) and
 * the byte offset in *err_at (either may be NULL).
 */
struct json_value *json_parse(h2o_mem_pool_t *pool, const char *buf, size_t len, const char **err,
                              size_t *err_at);

/* The member `key` of an object, or NULL (also when v is not an object). */
const struct json_value *json_get(const struct json_value *v, const char *key);
/* The string value of member `key`, or NULL if it is missing or not a string. */
const char *json_get_str(const struct json_value *v, const char *key, size_t *len);

/* Whether s[0..len) is valid UTF-8 with no C0 control characters other than tab, CR and LF. */
int json_utf8_valid(const char *s, size_t len);

/* Writer. */
struct json_buf {
    h2o_mem_pool_t *pool;
    char *base;
    size_t len, cap;
    int need_comma;
};
void json_buf_init(struct json_buf *b, h2o_mem_pool_t *pool);
void json_open_object(struct json_buf *b, const char *key); /* key NULL inside arrays or at the top */
void json_close_object(struct json_buf *b);
void json_open_array(struct json_buf *b, const char *key);
void json_close_array(struct json_buf *b);
void json_add_str(struct json_buf *b, const char *key, const char *value); /* value NULL writes null */
void json_add_strn(struct json_buf *b, const char *key, const char *value, size_t len);
void json_add_int(struct json_buf *b, const char *key, long long value);
void json_add_bool(struct json_buf *b, const char *key, int value);
void json_add_null(struct json_buf *b, const char *key);
/* Appends raw, already valid JSON text. */
void json_add_raw(struct json_buf *b, const char *key, const char *json, size_t len);
/* The text written so far, NUL-terminated (the NUL is not counted in len); lives as long as b's pool. */
char *json_buf_str(struct json_buf *b);

#endif
