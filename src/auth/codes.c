/* One-time codes and tokens: generation from libsodium's CSPRNG, keyed MACs, constant-time checks. */
#include "internal.h"

#include <string.h>

void auth_hex(const unsigned char *in, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

static int unhex(const char *hex, unsigned char *out, size_t n)
{
    size_t got = 0;
    if (strlen(hex) != 2 * n || sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, NULL) != 0 || got != n)
        return -1;
    return 0;
}

void auth_code_new(char out[AUTH_CODE_DIGITS + 1])
{
    for (int i = 0; i < AUTH_CODE_DIGITS; i++)
        out[i] = (char)('0' + randombytes_uniform(10));
    out[AUTH_CODE_DIGITS] = '\0';
}

void auth_code_mac(const unsigned char salt[AUTH_SALT_BYTES], const char *code, char out[65])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, salt, AUTH_SALT_BYTES);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)code, strlen(code));
    crypto_auth_hmacsha256_final(&st, mac);
    auth_hex(mac, sizeof(mac), out);
}

void auth_code_seal(const char *code, char salt_hex[2 * AUTH_SALT_BYTES + 1], char mac_hex[65])
{
    unsigned char salt[AUTH_SALT_BYTES];
    randombytes_buf(salt, sizeof(salt));
    auth_hex(salt, sizeof(salt), salt_hex);
    auth_code_mac(salt, code, mac_hex);
}

int auth_code_matches(const char *code, const char *salt_hex, const char *mac_hex)
{
    unsigned char salt[AUTH_SALT_BYTES];
    if (unhex(salt_hex, salt, sizeof(salt)) != 0 || strlen(mac_hex) != 64)
        return 0;
    char mine[65];
    auth_code_mac(salt, code, mine);
    return sodium_memcmp(mine, mac_hex, 64) == 0;
}

int auth_code_wellformed(const char *s, size_t len)
{
    if (len != AUTH_CODE_DIGITS)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

void auth_sha256_hex(const char *s, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)s, len);
    auth_hex(h, sizeof(h), out);
}

void auth_token_new(char out[65])
{
    unsigned char b[32];
    randombytes_buf(b, sizeof(b));
    auth_hex(b, sizeof(b), out);
    sodium_memzero(b, sizeof(b));
}

int auth_is_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}
