/* Blocking password hashing for citasctl (the server hashes on its pool, hashpool.c). */
#include "citas/auth.h"

#include <sodium.h>

int auth_password_hash_blocking(const char *password, size_t len, unsigned long long opslimit,
                                size_t memlimit, char out[128])
{
    if (sodium_init() < 0)
        return -1;
    return crypto_pwhash_str(out, password, len, opslimit, memlimit) == 0 ? 0 : -1;
}
