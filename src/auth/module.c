/* The auth module for citasd: configuration keys, per-worker state, the Redis scripts. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct server_config_key keys[] = {
    {"auth_session_idle_s", "1800"},      /* a session unused this long ends */
    {"auth_session_absolute_s", "43200"}, /* and every session ends this long after login */
    {"auth_code_ttl_s", "600"},           /* login codes */
    {"auth_verify_ttl_s", "86400"},       /* account verification codes */
    {"auth_code_max_attempts", "5"},
    {"auth_hash_threads", "2"},            /* process-wide Argon2id threads */
    {"auth_pwhash_opslimit", "2"},         /* crypto_pwhash_OPSLIMIT_INTERACTIVE */
    {"auth_pwhash_memlimit_kib", "65536"}, /* crypto_pwhash_MEMLIMIT_INTERACTIVE */
    {"auth_redis_prefix", "citas:auth:"},
    {NULL, NULL},
};

/* KEYS[1]: the hash; ARGV[1]: TTL in ms; ARGV[2..]: field/value pairs. Adds field `created` (server ms).
 * With KEYS[2], the account's index (auth_account_index_key()): KEYS[1] joins it (members that expired
 * leave), the index lives at least ARGV[2] ms, and the pairs start at ARGV[3]. */
static const char store_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))\n"
    "local first = 2\n"
    "if KEYS[2] then\n"
    "  first = 3\n"
    "  for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
    "    if redis.call('EXISTS', k) == 0 then redis.call('SREM', KEYS[2], k) end\n"
    "  end\n"
    "  redis.call('SADD', KEYS[2], KEYS[1])\n"
    "  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'created', now, unpack(ARGV, first))\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "return 1\n";

/* KEYS[1]: an account's index. Ends every session and login attempt in it; returns how many there were. */
static const char revoke_lua[] = "local n = 0\n"
                                 "for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
                                 "  n = n + redis.call('DEL', k)\n"
                                 "end\n"
                                 "redis.call('DEL', KEYS[1])\n"
                                 "return n\n";

/* KEYS[1]: a login attempt; ARGV[1]: max attempts. Counts one attempt; nil if absent or exhausted (then
 * deleted), else {account, role, office, salt, mac, lang, email, attempt number}. */
static const char code_take_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
    "local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)\n"
    "if n > tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) return false end\n"
    "local h = redis.call('HMGET', KEYS[1], 'account', 'role', 'office', 'salt', 'mac')\n"
    "return {h[1] or '', h[2] or '', h[3] or '', h[4] or '', h[5] or '', tostring(n)}\n";

static int get_uint(const struct server_config *c, const char *name, uint64_t min, uint64_t *out)
{
    char err[160];
    if (server_config_uint(c, name, out, err, sizeof(err)) != 0 || *out < min)
        return -EINVAL;
    return 0;
}

static void worker_free(void *state)
{
    struct auth_worker *aw = state;
    if (aw == NULL)
        return;
    auth_mailbox_free(aw->mailbox);
    if (aw->pool_acquired)
        auth_hashpool_release();
    redis_script_free(aw->session_store);
    redis_script_free(aw->code_take);
    redis_script_free(aw->seat_back);
    redis_script_free(aw->revoke);
    free(aw);
}

static int worker_init(struct server_worker *w, void **state)
{
    struct auth_worker *aw = calloc(1, sizeof(*aw));
    if (aw == NULL)
        return -ENOMEM;
    *state = aw; /* worker_free runs even when init fails */
    aw->w = w;
    const struct server_config *c = server_worker_config(w);
    struct auth_config *cfg = &aw->cfg;
    if (get_uint(c, "auth_session_idle_s", 1, &cfg->session_idle_s) != 0 ||
        get_uint(c, "auth_session_absolute_s", 1, &cfg->session_absolute_s) != 0 ||
        get_uint(c, "auth_code_ttl_s", 1, &cfg->code_ttl_s) != 0 ||
        get_uint(c, "auth_verify_ttl_s", 1, &cfg->verify_ttl_s) != 0 ||
        get_uint(c, "auth_code_max_attempts", 1, &cfg->code_max_attempts) != 0 ||
        get_uint(c, "auth_hash_threads", 1, &cfg->hash_threads) != 0 ||
        get_uint(c, "auth_pwhash_opslimit", crypto_pwhash_OPSLIMIT_MIN, &cfg->pwhash_opslimit) != 0 ||
        get_uint(c, "auth_pwhash_memlimit_kib", 8, &cfg->pwhash_memlimit_kib) != 0)
        return -EINVAL;
    cfg->prefix = server_config_get(c, "auth_redis_prefix");
    if (cfg->prefix == NULL || strlen(cfg->prefix) > 48)
        return -EINVAL;
    aw->session_store = redis_script_create(store_lua);
    aw->code_take = redis_script_create(code_take_lua);
    aw->seat_back = redis_script_create(auth_seat_back_lua);
    aw->revoke = redis_script_create(revoke_lua);
    if (aw->session_store == NULL || aw->code_take == NULL || aw->seat_back == NULL || aw->revoke == NULL)
        return -ENOMEM;
    int rc = auth_hashpool_acquire(cfg);
    if (rc != 0)
        return rc;
    aw->pool_acquired = 1;
    return auth_mailbox_create(ring_loop(server_worker_ring(w)), &aw->mailbox);
}

static void worker_stop(void *state)
{
    struct auth_worker *aw = state;
    auth_mailbox_stop(aw->mailbox);
}

const struct server_module auth_server_module = {
    .name = "auth",
    .keys = keys,
    .worker_init = worker_init,
    .worker_stop = worker_stop,
    .worker_free = worker_free,
};

struct auth_worker *auth_worker_of(h2o_req_t *req)
{
    return server_worker_module(server_worker_of(req), &auth_server_module);
}

void auth_account_index_key(const struct auth_worker *aw, const char *account_id, char *out, size_t cap)
{
    snprintf(out, cap, "%sa:%s", aw->cfg.prefix, account_id);
}
