/*
 * guard: the bot defences of one worker — hCaptcha verification and token-bucket rate limits in Redis.
 *
 * Captcha: guard_verify_captcha() claims the response in Redis (SET NX of its SHA-256, with a TTL of
 * reuse_ttl_s) and then asks the siteverify service (form-encoded POST of secret, response, remoteip,
 * sitekey through the curl client). A response seen before is GUARD_CAPTCHA_REUSED even if siteverify
 * would accept it; the claim is released again when siteverify could not answer, so the citizen may retry.
 * Anything that prevents a verdict (siteverify down, slow, answering garbage or refusing our secret; Redis
 * down) is GUARD_UNAVAILABLE: the HTTP layer answers 503 with Retry-After. Nothing passes unchecked.
 *
 * Rate limits: rules "route:dimension=capacity/period" (see guard_config.rate_limits). guard_rate_check()
 * runs ONE Lua script that refills (with Redis server time) every bucket that applies to the call and
 * either takes one token from each or, if any is empty, takes none and answers GUARD_RATE_LIMITED with the
 * seconds until all have a token. Idle buckets expire once full again.
 *
 * Threads: a guard belongs to one worker thread (its ring, Redis client and curl client); every call and
 * callback happens there. Callbacks: a call that returns 0 gets exactly one callback, always from a later
 * point (never from inside the call that made it). The caller keeps ctx valid until then, or calls
 * guard_cancel(g, ctx) first (an HTTP request closed early).
 */
#ifndef CITAS_GUARD_H
#define CITAS_GUARD_H

#include <stddef.h>
#include <stdint.h>

struct ring;
struct redis_client;
struct curl_client;
struct guard;

#define GUARD_DEFAULT_SITEVERIFY_URL "https://api.hcaptcha.com/siteverify"
#define GUARD_DEFAULT_ACTIONS        "register,login,booking"
#define GUARD_DEFAULT_PENALTY_ROUTES "booking"
#define GUARD_MAX_RESPONSE           16384 /* longer captcha responses are GUARD_CAPTCHA_INVALID */
#define GUARD_MAX_SUBJECT            512 /* longer ip/account/document values make guard_rate_check -EINVAL */

/* Strings are copied by guard_create(); NULL means the default. */
struct guard_config {
    const char *siteverify_url; /* default GUARD_DEFAULT_SITEVERIFY_URL */
    const char *secret;         /* hCaptcha secret; required (non-empty) when any action needs a captcha */
    const char *sitekey;        /* sent as `sitekey` when non-empty */
    const char *hostname;       /* accepted reply hostnames, comma-separated; NULL/"": not checked */
    uint32_t timeout_ms;        /* whole siteverify exchange; 0: 3000 */
    const char *actions;        /* actions needing a captcha, comma-separated; NULL: GUARD_DEFAULT_ACTIONS */
    /*
     * Comma-separated rules "route:dimension=capacity/period": a bucket of `capacity` tokens refilled
     * evenly over `period` seconds (suffix s, m or h allowed). route: [a-z0-9_-]{1,32} or "*" (every route);
     * dimension: ip, account, document, or route (one bucket shared by everyone on that route).
     * Example: "login:ip=20/60,login:account=5/300,register:ip=5/3600,booking:account=10/60".
     * NULL or "": no limits.
     */
    const char *rate_limits;
    uint32_t reuse_ttl_s;   /* how long a verified response is remembered; 0: 150 */
    const char *key_prefix; /* Redis key prefix; NULL: "citas:guard:" */
    /* Routes whose rate checks also consult the account's penalty (guard_penalize()), comma-separated;
     * NULL: GUARD_DEFAULT_PENALTY_ROUTES. */
    const char *penalty_routes;
    /* Slots of the worker's memory of rate refusals (src/guard/refusals.c): a set of buckets Redis refused
     * is refused again, without Redis, until the time Redis gave. 0: no memory, every check asks Redis. */
    uint32_t refusal_slots;
};

/* Validates a configuration (rule syntax, lists, URL). 0, or -EINVAL with a one-line reason in err. */
int guard_config_check(const struct guard_config *cfg, char *err, size_t errlen);

/*
 * Creates a guard over the worker's ring and clients (which must outlive it). Returns 0, -EINVAL for a
 * configuration guard_config_check() refuses (reason in err if not NULL), or -ENOMEM.
 */
int guard_create(struct ring *ring, struct redis_client *redis, struct curl_client *curl,
                 const struct guard_config *cfg, struct guard **out, char *err, size_t errlen);

/*
 * Answers every pending call GUARD_UNAVAILABLE (callbacks run inside this call), aborts its siteverify
 * transfers and frees the guard, on its thread, before the Redis and curl clients are destroyed. Run the
 * ring for a turn before ring_destroy(). Accepts NULL.
 */
void guard_destroy(struct guard *g);

enum guard_verdict {
    GUARD_OK,
    GUARD_CAPTCHA_MISSING, /* no response given (400) */
    GUARD_CAPTCHA_INVALID, /* siteverify refused it, or wrong hostname (400/403) */
    GUARD_CAPTCHA_REUSED,  /* already used (400/403) */
    GUARD_UNAVAILABLE,     /* no verdict possible now: siteverify or Redis down/slow (503 + Retry-After) */
    GUARD_RATE_LIMITED,    /* a bucket is empty (429 + Retry-After) */
};

/* A short English name of a verdict ("ok", "captcha_missing", ...), for logs and metrics labels. */
const char *guard_verdict_name(enum guard_verdict v);

/* 1 if `action` (e.g. "login") is listed in the configured captcha actions, else 0. */
int guard_needs_captcha(const struct guard *g, const char *action);

typedef void (*guard_captcha_cb)(enum guard_verdict v, void *ctx);

/*
 * Verifies the `h-captcha-response` of a request for `action`. An action needing no captcha is GUARD_OK;
 * a NULL or empty response GUARD_CAPTCHA_MISSING. remote_ip (may be NULL) is passed on as `remoteip`.
 * Returns 0 (cb will run once) or -ENOMEM.
 */
int guard_verify_captcha(struct guard *g, const char *action, const char *response, const char *remote_ip,
                         guard_captcha_cb cb, void *ctx);

/*
 * For a caller that claims the response itself, inside a Redis script of its own, so that the claim rides
 * with other work in one round trip (booking's probe does). guard_captcha_claim_key() writes the claim's
 * key, `prefix` + "captcha:" + the response's SHA-256 in hex, to out (cap >= strlen(prefix) + 73; -ENOSPC
 * otherwise); the caller SETs it NX with guard_captcha_reuse_ttl_s() seconds to live. Once it holds the
 * claim, guard_verify_claimed() is guard_verify_captcha() without the claim step: siteverify at once, and
 * the key deleted again if siteverify gives no verdict. -EINVAL without a key.
 */
int guard_captcha_claim_key(const char *response, const char *prefix, char *out, size_t cap);
unsigned guard_captcha_reuse_ttl_s(const struct guard *g);
int guard_verify_claimed(struct guard *g, const char *action, const char *response, const char *remote_ip,
                         const char *claim_key, guard_captcha_cb cb, void *ctx);

/* Who makes a request; NULL or "" fields are unknown and their buckets are not consulted. */
struct guard_subject {
    const char *ip;
    const char *account;  /* e.g. the account id or the email being logged in */
    const char *document; /* identity document number */
};

/* retry_after_s >= 1 with GUARD_RATE_LIMITED, else 0. */
typedef void (*guard_rate_cb)(enum guard_verdict v, unsigned retry_after_s, void *ctx);

/*
 * Takes one token from every bucket of the rules of `routes` (one route name or several, comma-separated,
 * e.g. "api,login"; rules of route "*" always apply) for the subject's known fields, or none if any is
 * empty. Verdicts: GUARD_OK, GUARD_RATE_LIMITED, GUARD_UNAVAILABLE (Redis). No applicable rule: GUARD_OK.
 * Returns 0 (cb will run once), -EINVAL (a subject field longer than GUARD_MAX_SUBJECT) or -ENOMEM.
 */
int guard_rate_check(struct guard *g, const char *routes, const struct guard_subject *subject,
                     guard_rate_cb cb, void *ctx);

/*
 * Whether a rate check of `routes` for the subject would be refused from the worker's memory of an earlier
 * refusal (see guard_config.refusal_slots), without Redis and without a callback: 1 (and *retry_after_s, at
 * least 1; counted as rate_limited), 0 when unknown (ask guard_rate_check()), -EINVAL for a subject field
 * longer than GUARD_MAX_SUBJECT, -ENOMEM. For a caller that would send other work along with the check.
 */
int guard_rate_refused(struct guard *g, const char *routes, const struct guard_subject *subject,
                       unsigned *retry_after_s);

/* GUARD_OK: the penalty is stored in Redis; GUARD_UNAVAILABLE: it may not be (Redis failed, guard gone). */
typedef void (*guard_penalty_cb)(enum guard_verdict v, void *ctx);

/*
 * Benches an account on `route` for `ms`: until then guard_rate_check() of that route (when it is one of
 * penalty_routes) answers GUARD_RATE_LIMITED with the time left, whatever the buckets hold. A longer
 * penalty replaces a shorter one, a shorter one leaves it. For what people do not do and bots do (a
 * booking before the release, a refused captcha).
 * Returns 0 (cb, if not NULL, will run once), -EINVAL (empty account, too long, ms 0), -ENOMEM or
 * -ECANCELED (the guard is being destroyed). cb runs with GUARD_OK once Redis has stored the penalty, so
 * that a rate check started after it, on any worker, sees it; with GUARD_UNAVAILABLE when Redis failed
 * (counted as rate_unavailable). Answering the refused request from cb means its next attempt is benched.
 * NULL cb: fire and forget. guard_cancel(g, ctx) stops cb, not the write.
 */
int guard_penalize(struct guard *g, const char *route, const char *account, uint64_t ms, guard_penalty_cb cb,
                   void *ctx);

/* Stops the callbacks of every pending call made with `ctx` (none of them will run); returns how many. */
size_t guard_cancel(struct guard *g, void *ctx);

/* Counters since creation, for /metrics. */
struct guard_stats {
    uint64_t captcha_ok, captcha_missing, captcha_invalid, captcha_reused, captcha_unavailable;
    uint64_t rate_ok, rate_limited, rate_unavailable;
    uint64_t rate_remembered; /* of rate_limited: answered from the memory of an earlier refusal */
    uint64_t penalties; /* guard_penalize() calls accepted (returned 0) */
    uint64_t pending;   /* calls awaiting their callback */
};
void guard_get_stats(const struct guard *g, struct guard_stats *out);
/* The rate_* counters of every guard of the process added up (any thread); the other fields are 0. */
void guard_get_totals(struct guard_stats *out);

/*
 * citasd glue (src/guard/module.c): the module gives every worker its own guard, configured from the keys
 * hcaptcha_siteverify_url, hcaptcha_secret, hcaptcha_sitekey, hcaptcha_hostname, hcaptcha_timeout_ms,
 * captcha_actions, captcha_reuse_ttl_s and rate_limits (see ops/citas.conf).
 */
struct server_module;
struct server_worker;
extern const struct server_module guard_server_module;
/* The guard of the worker (on that worker's thread), or NULL if the module is not in the application. */
struct guard *guard_for_worker(struct server_worker *w);

#endif
