/*
 * hex: lower-case hexadecimal of bytes, for keys, digests and bytea literals. Header only: one loop, no
 * printf (a snprintf per byte was 7% of a worker's CPU on the booking route).
 */
#ifndef CITAS_HEX_H
#define CITAS_HEX_H

#include <stddef.h>

/* Writes 2 * n digits of in to out, then a NUL (out holds 2 * n + 1 bytes). Returns out + 2 * n. */
static inline char *hex_encode(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        *out++ = digits[in[i] >> 4];
        *out++ = digits[in[i] & 15];
    }
    *out = '\0';
    return out;
}

#endif
