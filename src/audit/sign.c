/* Ed25519 signing of chain heads and small helpers shared by citasd and citasctl. */
#include "citas/audit.h"
#include "citas/hex.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

int audit_head_message(int64_t upto_id, const unsigned char hash[AUDIT_HASH_LEN], char *out, size_t cap)
{
    int n = snprintf(out, cap, "citas-audit-head:%lld:", (long long)upto_id);
    if (n < 0 || (size_t)n + 2 * AUDIT_HASH_LEN + 1 > cap)
        return -1;
    hex_encode(out + n, hash, AUDIT_HASH_LEN);
    return n + 2 * AUDIT_HASH_LEN;
}

int audit_sign_head(void *pkey, int64_t upto_id, const unsigned char hash[AUDIT_HASH_LEN],
                    unsigned char sig[AUDIT_SIG_LEN])
{
    char msg[128];
    int n = audit_head_message(upto_id, hash, msg, sizeof(msg));
    if (n < 0 || pkey == NULL)
        return -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL)
        return -1;
    size_t siglen = AUDIT_SIG_LEN;
    int ok = EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1 &&
             EVP_DigestSign(md, sig, &siglen, (const unsigned char *)msg, (size_t)n) == 1 &&
             siglen == AUDIT_SIG_LEN;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

int audit_verify_head(void *pkey, int64_t upto_id, const unsigned char hash[AUDIT_HASH_LEN],
                      const unsigned char *sig, size_t siglen)
{
    char msg[128];
    int n = audit_head_message(upto_id, hash, msg, sizeof(msg));
    if (n < 0 || pkey == NULL)
        return 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL)
        return 0;
    int ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
             EVP_DigestVerify(md, sig, siglen, (const unsigned char *)msg, (size_t)n) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void *check_ed25519(EVP_PKEY *k)
{
    if (k != NULL && EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

void *audit_load_private_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return check_ed25519(k);
}

void *audit_load_public_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    return check_ed25519(k);
}

void audit_free_key(void *pkey)
{
    EVP_PKEY_free(pkey);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int audit_bytea_decode(const char *text, unsigned char *out, size_t cap)
{
    if (text == NULL || text[0] != '\\' || text[1] != 'x')
        return -1;
    const char *p = text + 2;
    size_t len = strlen(p);
    if (len % 2 != 0 || len / 2 > cap)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(len / 2);
}
