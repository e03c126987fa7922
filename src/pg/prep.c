/*
 * The prepared-statement cache of one connection: a statement with parameters is parsed and planned by
 * the server once per connection (a named statement, "citas_<n>") and executed by name afterwards.
 *
 * A call's Prepares are sent before its first statement, at the head of its Sync group: only another
 * Prepare of the same group can make one be skipped, so a statement that fails (a unique violation) never
 * leaves a later call's statement unprepared. An entry is usable from the moment its Prepare is sent
 * (the pipeline runs in order); a Prepare that fails, or an execution the server answers with "no such
 * prepared statement" (26000) or "cached plan must not change result type" (0A000), kills the entry and
 * the next call prepares the statement again under a new name. The table is bounded (PG_PREP_MAX live
 * or dead entries); statements beyond it, and statements without parameters, go unnamed as before.
 */
#include "pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t hash_sql(const char *sql, int nparams)
{
    uint32_t h = 2166136261u ^ (uint32_t)nparams;
    for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

void pg_prep_name(unsigned id, char *out, size_t cap)
{
    snprintf(out, cap, "citas_%u", id);
}

int pg_prep_find(struct pg_conn *c, const struct pg_stmt *s, int *is_new)
{
    *is_new = 0;
    if (s->nparams == 0)
        return -1;
    uint32_t h = hash_sql(s->sql, s->nparams);
    unsigned mask = PG_PREP_SLOTS - 1;
    if (c->prep != NULL) {
        for (unsigned i = h & mask;; i = (i + 1) & mask) {
            struct pg_prep *e = &c->prep[i];
            if (e->sql == NULL)
                break;
            if (!e->dead && e->hash == h && e->nparams == s->nparams && strcmp(e->sql, s->sql) == 0)
                return (int)i;
        }
    }
    if (c->nprep >= PG_PREP_MAX)
        return -1;
    if (c->prep == NULL && (c->prep = calloc(PG_PREP_SLOTS, sizeof(*c->prep))) == NULL)
        return -1;
    char *copy = strdup(s->sql);
    if (copy == NULL)
        return -1;
    unsigned i = h & mask;
    while (c->prep[i].sql != NULL)
        i = (i + 1) & mask;
    c->prep[i] = (struct pg_prep){.sql = copy, .hash = h, .nparams = s->nparams, .id = ++c->prep_ids};
    c->nprep++;
    *is_new = 1;
    c->pool->stats.prepared++;
    return (int)i;
}

void pg_prep_kill(struct pg_conn *c, int slot)
{
    /* the slot stays occupied (probing goes on past it) and counts towards PG_PREP_MAX */
    if (c->prep != NULL && slot >= 0 && slot < PG_PREP_SLOTS)
        c->prep[slot].dead = 1;
}

void pg_prep_clear(struct pg_conn *c)
{
    if (c->prep != NULL) {
        for (unsigned i = 0; i < PG_PREP_SLOTS; i++)
            free(c->prep[i].sql);
        free(c->prep);
    }
    c->prep = NULL;
    c->nprep = 0;
    c->prep_ids = 0;
}
