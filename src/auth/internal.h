/* Private to the auth module. */
#ifndef CITAS_AUTH_INTERNAL_H
#define CITAS_AUTH_INTERNAL_H

#include "citas/auth.h"
#include "citas/json.h"
#include "citas/pg.h"
#include "citas/redis.h"
#include "citas/server.h"

#include <sodium.h>
#include <stdint.h>

#include "citas/guard.h"
#include "citas/mail.h"

#define AUTH_CODE_DIGITS 6
#define AUTH_COOKIE      "citas_session"

/* --- configuration (module keys, parsed once per worker) --- */
struct auth_config {
    uint64_t session_idle_s, session_absolute_s;
    uint64_t code_ttl_s;   /* login codes */
    uint64_t verify_ttl_s; /* account verification codes */
    uint64_t code_max_attempts;
    uint64_t hash_threads;
    uint64_t pwhash_opslimit;
    uint64_t pwhash_memlimit_kib;
    const char *prefix; /* Redis key prefix */
};

/* --- hashing pool (hashpool.c) --- */
struct auth_mailbox; /* one per worker: where finished jobs come back */

enum auth_hash_op { AUTH_HASH_CREATE, AUTH_HASH_VERIFY };
struct auth_hash_job;
/* res: CREATE: 0 and `hash` filled, or -ENOMEM; VERIFY: 1 match, 0 mismatch; -ECANCELED at shutdown. */
typedef void (*auth_hash_cb)(int res, const char *hash, void *ctx);

/* Starts the process-wide pool on first use (threads, parameters, dummy hash); one reference per worker. */
int auth_hashpool_acquire(const struct auth_config *cfg);
void auth_hashpool_release(void);
/* Creates the worker's mailbox (an eventfd watched by the worker's h2o loop). */
int auth_mailbox_create(h2o_evloop_t *loop, struct auth_mailbox **out);
/* Cancels queued jobs, waits for running ones, delivers every callback; then no more jobs are accepted. */
void auth_mailbox_stop(struct auth_mailbox *mb);
void auth_mailbox_free(struct auth_mailbox *mb);
/*
 * Hashes (CREATE) or checks `password` against `hash` (VERIFY; hash NULL: against a dummy hash, so an
 * unknown account takes as long as a known one). The password is copied and wiped after use. cb runs on
 * the mailbox's loop, exactly once, never inside this call. Returns 0 or -ENOMEM/-ESHUTDOWN.
 */
int auth_hash_submit(struct auth_mailbox *mb, enum auth_hash_op op, const char *password, size_t len,
                     const char *hash, auth_hash_cb cb, void *ctx);

/* --- per-worker state (module.c) --- */
struct auth_worker {
    struct server_worker *w;
    struct auth_config cfg;
    struct auth_mailbox *mailbox;
    struct redis_script *session_store; /* HSET + PEXPIRE */
    struct redis_script *code_take;     /* counts one attempt, returns the record */
    struct redis_script *seat_back;     /* DELETE /me: a cancelled appointment's seat back (me_data.c) */
    struct redis_script *revoke;        /* ends every session and login attempt of an account */
    int pool_acquired;
};
struct auth_worker *auth_worker_of(h2o_req_t *req);
/* The Redis set indexing an account's sessions and login attempts (<prefix>a:<id>): session_store adds
 * them, revoke deletes them all (an account disabled or its role, office or password changed). */
void auth_account_index_key(const struct auth_worker *aw, const char *account_id, char *out, size_t cap);

/* --- codes and tokens (codes.c) --- */
#define AUTH_SALT_BYTES 32
void auth_hex(const unsigned char *in, size_t n, char *out); /* out: 2n+1 */
/* A uniformly random code of AUTH_CODE_DIGITS digits (NUL-terminated). */
void auth_code_new(char out[AUTH_CODE_DIGITS + 1]);
/* HMAC-SHA256(key = salt, code) as 64 hex digits. */
void auth_code_mac(const unsigned char salt[AUTH_SALT_BYTES], const char *code, char out[65]);
/* A new random salt and the MAC of `code` under it, both hex. */
void auth_code_seal(const char *code, char salt_hex[2 * AUTH_SALT_BYTES + 1], char mac_hex[65]);
/* 1 if code's MAC under salt_hex equals mac_hex (constant time), else 0. */
int auth_code_matches(const char *code, const char *salt_hex, const char *mac_hex);
/* Whether s[0..len) is exactly AUTH_CODE_DIGITS ASCII digits. */
int auth_code_wellformed(const char *s, size_t len);
/* SHA-256 of s as hex. */
void auth_sha256_hex(const char *s, size_t len, char out[65]);
/* 32 random bytes as 64 hex digits. */
void auth_token_new(char out[65]);
int auth_is_hex(const char *s, size_t len);

/* --- answers (respond.c) --- */
void auth_problem(h2o_req_t *req, int status, const char *title, const char *detail);
/* 503 with Retry-After. */
void auth_unavailable(h2o_req_t *req, const char *what);
/* For a reply that must hold the session's own account as its one row: 1 if it does; else answers (503 when
 * PostgreSQL failed, 401 and the cookie cleared when the account is gone or disabled) and returns 0. */
int auth_account_row(h2o_req_t *req, const struct pg_reply *reply);
/* The 401 for a session whose account no longer exists (clears the cookie). */
void auth_account_gone(h2o_req_t *req);
/* 400 naming the field: "<field>: <why>". */
void auth_bad_field(h2o_req_t *req, const char *field, const char *why);
/* Refuses members of obj not in `allowed` (NULL-terminated) with 400; returns 0 if all are known. */
int auth_only_fields(h2o_req_t *req, const struct json_value *obj, const char *const *allowed);
/* The string member `key` (required unless optional): 0 and *out (NULL if absent and optional); -1 after
 * answering 400 (missing, not a string, longer than max bytes). */
int auth_str_field(h2o_req_t *req, const struct json_value *obj, const char *key, size_t max, int optional,
                   const char **out, size_t *len);

/* --- the bot defences step (guardstep.c): rate limits, then the captcha --- */
/* Called once: ok 1 to go on; 0 when the request was answered (429/400/403/503) or the client left. */
typedef void (*auth_guard_cb)(int ok, void *ctx);
struct auth_guard_step {
    void *state; /* the request's async state (for server_async_req) */
    const char *routes, *action;
    const char *ip, *account, *document, *captcha;
    auth_guard_cb cb;
    void *ctx;
};
/* Runs the rate check for `routes` and, if `action` is not NULL, the captcha; st must live until cb. */
void auth_guard_run(struct auth_guard_step *st);
/* The captcha response of a JSON body ("captcha" or "h-captcha-response"); NULL if absent. Answers 400
 * and sets *bad when the member is not a string or too long. */
const char *auth_captcha_field(h2o_req_t *req, const struct json_value *body, int *bad);

/* --- sessions (session.c) --- */
/* Stores a new session for the account and fills token (the cookie value) and csrf. cb(0) or cb(-errno). */
typedef void (*auth_store_cb)(int rc, void *ctx);
int auth_session_create(struct auth_worker *aw, int64_t account_id, enum auth_role role, const char *office,
                        char token[65], char csrf[65], auth_store_cb cb, void *ctx);
/* Adds Set-Cookie for the token (NULL: an expired cookie that deletes it). */
void auth_set_cookie(h2o_req_t *req, const char *token, uint64_t max_age_s);

/* --- the citizen's own data (me_data.c) --- */
/* booking's cancel.lua, the same rule: the seat goes back while the slot is loaded; the person key goes. */
extern const char auth_seat_back_lua[];

/* --- mail (mailing.c): codes by email --- */
/* Adds the INSERT of a verify_code/login_code mail to tx (0) or returns -EINVAL/-ENOSYS/-ENOMEM. */
int auth_mail_tx_code(struct pg_tx *tx, int login, const char *to, const char *lang, const char *name,
                      const char *code, uint64_t ttl_s);
/* A Redis reply nobody waits for (best-effort writes and deletes). session.c. */
void auth_redis_ignore(struct redis_client *c, const redisReply *reply, const char *err, void *ctx);
/* booking's cache of an account's document, email, language and name (src/booking/cache.c): the key is
 * this prefix and the account id. Auth primes it at login (login.c) and forgets it on a change (me_data.c).
 */
#define AUTH_BOOKING_CACHE_PREFIX "bk:acct:"

/* A login_code mail through the quick queue (mail_quick_enqueue()): 0 and cb once, or a negative errno. */
int auth_mail_login_code(struct redis_client *redis, const char *to, const char *lang, const char *name,
                         const char *code, uint64_t ttl_s, mail_quick_cb cb, void *ctx);

#endif
