/*
 * surge-hash PASSWORD [OPSLIMIT MEMLIMIT_KIB]: prints one Argon2id string (libsodium crypto_pwhash_str) for
 * the surge's accounts. A harness shortcut: loadtest/surge/run inserts every account with this one hash
 * instead of registering each user, and uses cheap parameters (default 1 pass, 256 KiB) so that tens of
 * thousands of logins in a minute fit on the machine; the login itself stays citasd's real flow (Argon2id
 * verification on its hashing threads, emailed code).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: surge-hash PASSWORD [OPSLIMIT MEMLIMIT_KIB]\n");
        return 2;
    }
    unsigned long long ops = argc == 4 ? strtoull(argv[2], NULL, 10) : 1;
    size_t mem = (argc == 4 ? (size_t)strtoull(argv[3], NULL, 10) : 256) * 1024;
    char out[crypto_pwhash_STRBYTES];
    if (sodium_init() < 0 || ops < crypto_pwhash_OPSLIMIT_MIN || mem < crypto_pwhash_MEMLIMIT_MIN ||
        crypto_pwhash_str_alg(out, argv[1], strlen(argv[1]), ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        fprintf(stderr, "surge-hash: cannot hash (opslimit >= %llu, memlimit >= %zu KiB)\n",
                (unsigned long long)crypto_pwhash_OPSLIMIT_MIN, (size_t)crypto_pwhash_MEMLIMIT_MIN / 1024);
        return 1;
    }
    puts(out);
    return 0;
}
