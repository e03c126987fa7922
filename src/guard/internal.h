/* guard internals shared by its files: parsed configuration, the guard and one pending call. */
#ifndef CITAS_GUARD_INTERNAL_H
#define CITAS_GUARD_INTERNAL_H

#include "citas/guard.h"
#include "citas/ring.h"

#include <stddef.h>
#include <stdint.h>

#define GUARD_MAX_ROUTE        32
#define GUARD_MAX_PENALTY_KEYS 8 /* penalty keys consulted by one rate check (one per route of the call) */

enum guard_dim { GUARD_DIM_IP, GUARD_DIM_ACCOUNT, GUARD_DIM_DOCUMENT, GUARD_DIM_ROUTE };

struct guard_rule {
    char route[GUARD_MAX_ROUTE + 1]; /* or "*" */
    enum guard_dim dim;
    uint32_t capacity;
    uint32_t period_s;
};

/* config.c */
/* Parses a rule list; *out is malloc()ed (NULL when there are no rules). 0 or -EINVAL/-ENOMEM. */
int guard_rules_parse(const char *s, struct guard_rule **out, size_t *n, char *err, size_t errlen);
/* Whether the comma-separated `list` holds `item` (items trimmed of blanks). */
int guard_list_has(const char *list, const char *item, size_t item_len);
const char *guard_dim_name(enum guard_dim d);

enum guard_call_kind { GUARD_CALL_CAPTCHA, GUARD_CALL_RATE, GUARD_CALL_PENALTY };
enum guard_call_stage {
    GUARD_STAGE_READY, /* verdict known, answered by the guard's deferred work */
    GUARD_STAGE_REDIS, /* waiting for a Redis reply */
    GUARD_STAGE_CURL,  /* waiting for siteverify */
    GUARD_STAGE_DEAD,  /* the guard is being destroyed; free when the transfer's callback runs */
};

struct guard_call {
    struct guard *g;
    struct guard_call *prev, *next; /* g->pending */
    struct guard_call *ready_next;  /* g->ready, while GUARD_STAGE_READY */
    enum guard_call_kind kind;
    enum guard_call_stage stage;
    int detached; /* guard_cancel(): do not call back */
    guard_captcha_cb captcha_cb;
    guard_rate_cb rate_cb;
    guard_penalty_cb penalty_cb;
    void *ctx;
    enum guard_verdict verdict; /* GUARD_STAGE_READY */
    unsigned retry_after;
    /* captcha */
    struct curl_client_transfer *transfer;
    char *claim_key; /* Redis key remembering the response */
    char *form;      /* siteverify request body */
    size_t form_len;
    /* penalty: Redis replies still awaited, and whether a command failed */
    int replies_left, failed;
    /* rate: the call's bucket keys joined (refusals.c), when the memory is on, and when it was sent */
    char *refusal_keys;
    int64_t sent_ms;
};

struct guard {
    struct ring *ring;
    struct redis_client *redis;
    struct curl_client *curl;
    char *siteverify_url, *secret, *sitekey, *hostnames, *actions, *prefix, *penalty_routes;
    uint32_t timeout_ms, reuse_ttl_s;
    struct guard_rule *rules;
    size_t nrules;
    struct guard_refusal *refusals; /* refusals.c; nrefusals slots (a power of two), 0: off */
    size_t nrefusals;
    struct redis_script *script;
    struct guard_call *pending;
    struct guard_call *ready, *ready_tail;
    struct ring_defer defer;
    int defer_queued, in_defer, closing;
    struct guard_stats stats;
};

/* guard.c */
struct guard_call *guard_call_new(struct guard *g, enum guard_call_kind kind, void *ctx);
/* Answers from a later loop turn (the call that started it is still on the stack). */
void guard_call_answer_later(struct guard_call *c, enum guard_verdict v, unsigned retry_after);
/* Answers now (from a backend callback) and frees the call; touches nothing of g after the callback. */
void guard_call_finish(struct guard_call *c, enum guard_verdict v, unsigned retry_after);
void guard_call_free(struct guard_call *c);
/* Unlinks and frees a call whose start failed (no backend holds it, no callback will run). */
void guard_call_drop(struct guard_call *c);

/* Counts a rate verdict (and, for a refusal from memory, that too) in g->stats and the process's totals. */
void guard_count_rate(struct guard *g, enum guard_verdict v);
void guard_count_remembered(struct guard *g);

/* 1 if no field of the subject is longer than GUARD_MAX_SUBJECT, else 0. */
int guard_subject_ok(const struct guard_subject *s);

/* refusals.c: the worker's memory of rate refusals */
struct guard_refusal;
int64_t guard_now_ms(void); /* monotonic */
/* Allocates `slots` (rounded up to a power of two; 0: no memory). 0 or -ENOMEM. */
int guard_refusals_create(struct guard *g, uint32_t slots);
void guard_refusals_free(struct guard *g);
/* ms the joined key set stays refused after now_ms, from an earlier refusal; 0 if none is known. */
uint64_t guard_refusal_left(const struct guard *g, const char *keys, int64_t now_ms);
/* Remembers that Redis refuses the key set until until_ms (kept if a later deadline is known). */
void guard_refusal_note(struct guard *g, const char *keys, int64_t until_ms);

/* captcha.c */
/* claimed_key: the caller has claimed the response under this key (go straight to siteverify); NULL: claim
 * it here first */
int guard_captcha_start(struct guard_call *c, const char *response, const char *remote_ip,
                        const char *claimed_key);
/* ratelimit.c */
int guard_rate_start(struct guard_call *c, const char *routes, const struct guard_subject *s);
/* PREFIX "pen:" ROUTE ":account:" ACCOUNT, malloc()ed; NULL when out of memory. */
char *guard_penalty_key(const struct guard *g, const char *route, size_t route_len, const char *account);

#endif
