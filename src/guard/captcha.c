/*
 * guard: hCaptcha verification. A call claims the response in Redis (SET NX EX of its SHA-256), then POSTs
 * it to siteverify and reads the JSON verdict. The claim stays when a verdict was reached (the response is
 * spent either way) and is released when siteverify could not give one, so that a retry is possible.
 */
#include "internal.h"
#include "citas/hex.h"
#include "citas/curl.h"
#include "citas/json.h"
#include "citas/redis.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_claim(struct redis_client *rc, const redisReply *reply, const char *err, void *ctx);
static void on_siteverify(const struct curl_client_result *res, void *ctx);

/* Appends name=value, percent-encoded, to buf (which has room for 3 * strlen(value) + more). */
static size_t add_field(char *buf, size_t o, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (o > 0)
        buf[o++] = '&';
    size_t n = strlen(name);
    memcpy(buf + o, name, n);
    o += n;
    buf[o++] = '=';
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '.' || ch == '_' || ch == '~') {
            buf[o++] = (char)ch;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        }
    }
    return o;
}

int guard_captcha_claim_key(const char *response, const char *prefix, char *out, size_t cap)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    size_t plen = strlen(prefix);
    if (cap < plen + sizeof("captcha:") + 2 * SHA256_DIGEST_LENGTH)
        return -ENOSPC;
    if (SHA256((const unsigned char *)response, strlen(response), md) == NULL)
        return -ENOMEM;
    memcpy(out, prefix, plen);
    memcpy(out + plen, "captcha:", 8);
    hex_encode(out + plen + 8, md, SHA256_DIGEST_LENGTH);
    return 0;
}

unsigned guard_captcha_reuse_ttl_s(const struct guard *g)
{
    return g->reuse_ttl_s;
}

static void on_ignore(struct redis_client *rc, const redisReply *reply, const char *err, void *ctx)
{
    (void)rc, (void)reply, (void)err, (void)ctx;
}

/* Forgets the claim: siteverify gave no verdict, so the response may still be good. */
static void release_claim(struct guard_call *c)
{
    const char *argv[] = {"DEL", c->claim_key};
    (void)redis_command(c->g->redis, on_ignore, NULL, 2, argv,
                        NULL); /* best effort: the TTL ends it anyway */
}

/* The response is claimed: POST it to siteverify. -1 (claim released) when the transfer cannot start. */
static int post_siteverify(struct guard_call *c)
{
    struct guard *g = c->g;
    c->stage = GUARD_STAGE_CURL;
    if (curl_client_post(g->curl, g->siteverify_url, "application/x-www-form-urlencoded", c->form,
                         c->form_len, g->timeout_ms, on_siteverify, c, &c->transfer) != 0) {
        release_claim(c);
        return -1;
    }
    return 0;
}

int guard_captcha_start(struct guard_call *c, const char *response, const char *remote_ip,
                        const char *claimed_key)
{
    struct guard *g = c->g;
    size_t rlen = strlen(response);
    if (rlen > GUARD_MAX_RESPONSE) {
        guard_call_answer_later(c, GUARD_CAPTCHA_INVALID, 0);
        return 0;
    }
    if (remote_ip != NULL && strlen(remote_ip) > GUARD_MAX_SUBJECT)
        remote_ip = NULL;

    size_t klen = claimed_key != NULL ? strlen(claimed_key) + 1
                                      : strlen(g->prefix) + sizeof("captcha:") + 2 * SHA256_DIGEST_LENGTH;
    c->claim_key = malloc(klen);
    size_t cap =
        64 + 3 * (strlen(g->secret) + rlen + (remote_ip ? strlen(remote_ip) : 0) + strlen(g->sitekey));
    c->form = malloc(cap);
    if (c->claim_key == NULL || c->form == NULL)
        return -ENOMEM;
    if (claimed_key != NULL)
        memcpy(c->claim_key, claimed_key, klen);
    else if (guard_captcha_claim_key(response, g->prefix, c->claim_key, klen) != 0)
        return -ENOMEM;

    size_t o = add_field(c->form, 0, "secret", g->secret);
    o = add_field(c->form, o, "response", response);
    if (remote_ip != NULL && remote_ip[0] != '\0')
        o = add_field(c->form, o, "remoteip", remote_ip);
    if (g->sitekey[0] != '\0')
        o = add_field(c->form, o, "sitekey", g->sitekey);
    c->form[o] = '\0';
    c->form_len = o;

    if (claimed_key != NULL) { /* the caller's script has claimed it already */
        if (post_siteverify(c) != 0)
            guard_call_answer_later(c, GUARD_UNAVAILABLE, 0);
        return 0;
    }
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%u", (unsigned)g->reuse_ttl_s);
    const char *argv[] = {"SET", c->claim_key, "1", "NX", "EX", ttl};
    c->stage = GUARD_STAGE_REDIS;
    int rc = redis_command(g->redis, on_claim, c, 6, argv, NULL);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0)
        guard_call_answer_later(c, GUARD_UNAVAILABLE, 0);
    return 0;
}

static void on_claim(struct redis_client *rc, const redisReply *reply, const char *err, void *ctx)
{
    (void)rc;
    struct guard_call *c = ctx;
    if (err != NULL || reply->type == REDIS_REPLY_ERROR) {
        guard_call_finish(c, GUARD_UNAVAILABLE, 0);
        return;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        guard_call_finish(c, GUARD_CAPTCHA_REUSED, 0);
        return;
    }
    if (c->detached) { /* nobody waits for the verdict: leave the response unspent */
        release_claim(c);
        guard_call_finish(c, GUARD_UNAVAILABLE, 0);
        return;
    }
    if (post_siteverify(c) != 0)
        guard_call_finish(c, GUARD_UNAVAILABLE, 0);
}

static int has_code(const struct json_value *codes, const char *code)
{
    if (codes == NULL || codes->type != JSON_ARRAY)
        return 0;
    for (size_t i = 0; i < codes->len; i++)
        if (codes->items[i]->type == JSON_STRING && strcmp(codes->items[i]->str, code) == 0)
            return 1;
    return 0;
}

/* The verdict of a siteverify reply body. */
static enum guard_verdict judge(struct guard *g, const char *body, size_t len)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    enum guard_verdict v = GUARD_UNAVAILABLE;
    const struct json_value *root = json_parse(&pool, body, len, NULL, NULL), *success;
    if (root == NULL || root->type != JSON_OBJECT || (success = json_get(root, "success")) == NULL)
        goto out; /* not a siteverify answer */
    if (success->type == JSON_TRUE) {
        size_t hlen = 0;
        const char *host = json_get_str(root, "hostname", &hlen);
        if (g->hostnames[0] == '\0' || (host != NULL && guard_list_has(g->hostnames, host, hlen)))
            v = GUARD_OK;
        else
            v = GUARD_CAPTCHA_INVALID;
        goto out;
    }
    const struct json_value *codes = json_get(root, "error-codes");
    if (has_code(codes, "missing-input-secret") || has_code(codes, "invalid-input-secret") ||
        has_code(codes, "sitekey-secret-mismatch") || has_code(codes, "bad-request"))
        v = GUARD_UNAVAILABLE; /* our configuration or request is wrong, not the citizen's answer */
    else if (has_code(codes, "already-seen-response"))
        v = GUARD_CAPTCHA_REUSED;
    else
        v = GUARD_CAPTCHA_INVALID;
out:
    h2o_mem_clear_pool(&pool);
    return v;
}

static void on_siteverify(const struct curl_client_result *res, void *ctx)
{
    struct guard_call *c = ctx;
    c->transfer = NULL;
    if (c->stage == GUARD_STAGE_DEAD) { /* guard_destroy() answered it already */
        guard_call_free(c);
        return;
    }
    enum guard_verdict v = GUARD_UNAVAILABLE;
    if (res->error == 0 && res->status == 200)
        v = judge(c->g, res->body, res->body_len);
    if (v == GUARD_UNAVAILABLE)
        release_claim(c);
    guard_call_finish(c, v, 0);
}
