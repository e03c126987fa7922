/*
 * guard: the worker's memory of rate refusals. When Redis refuses a set of buckets it says for how long
 * (the ms until every bucket holds a token again, or a penalty's time left). Until then the same set is
 * refused again without asking: buckets only fill at their rate and penalties only grow, so a remembered
 * refusal is one Redis would give too. The deadline counts from when the call was sent, not from the reply,
 * so it ends no later than Redis's own. Only refusals are remembered, never a pass.
 *
 * A direct-mapped table of guard_config.refusal_slots entries, keyed by the joined bucket keys of a call
 * (FNV-1a): a newer refusal takes the slot of an older one, which is then asked of Redis again.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct guard_refusal {
    uint64_t hash;
    int64_t until_ms;
    char *keys; /* NULL: empty slot */
};

int64_t guard_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int guard_refusals_create(struct guard *g, uint32_t slots)
{
    g->nrefusals = 0;
    g->refusals = NULL;
    if (slots == 0)
        return 0;
    size_t n = 1;
    while (n < slots) /* a power of two, at least the count asked for */
        n <<= 1;
    g->refusals = calloc(n, sizeof(*g->refusals));
    if (g->refusals == NULL)
        return -ENOMEM;
    g->nrefusals = n;
    return 0;
}

void guard_refusals_free(struct guard *g)
{
    for (size_t i = 0; i < g->nrefusals; i++)
        free(g->refusals[i].keys);
    free(g->refusals);
    g->refusals = NULL;
    g->nrefusals = 0;
}

uint64_t guard_refusal_left(const struct guard *g, const char *keys, int64_t now_ms)
{
    if (g->nrefusals == 0)
        return 0;
    uint64_t h = fnv1a(keys);
    const struct guard_refusal *r = &g->refusals[h & (g->nrefusals - 1)];
    if (r->keys == NULL || r->hash != h || r->until_ms <= now_ms || strcmp(r->keys, keys) != 0)
        return 0;
    return (uint64_t)(r->until_ms - now_ms);
}

void guard_refusal_note(struct guard *g, const char *keys, int64_t until_ms)
{
    if (g->nrefusals == 0)
        return;
    uint64_t h = fnv1a(keys);
    struct guard_refusal *r = &g->refusals[h & (g->nrefusals - 1)];
    if (r->keys != NULL && r->hash == h && strcmp(r->keys, keys) == 0) {
        if (until_ms > r->until_ms)
            r->until_ms = until_ms;
        return;
    }
    char *copy = strdup(keys);
    if (copy == NULL)
        return; /* not remembered: the next call asks Redis */
    free(r->keys);
    r->keys = copy;
    r->hash = h;
    r->until_ms = until_ms;
}
