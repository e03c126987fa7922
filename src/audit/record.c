/* Recording: one parameterised call of the SQL function audit_add() (sql/010), which inserts into
 * audit_pending without a lock; the chainer (chain.c) links the record into audit_log later. */
#include "citas/audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

static const char append_sql[] = "SELECT audit_add($1::bigint, $2, $3, $4, $5::jsonb, $6::inet)";

static int params(const struct audit_event *e, char actor[24], const char *v[6])
{
    if (e == NULL || e->action == NULL || e->action[0] == '\0' || e->actor_account < 0)
        return -EINVAL;
    snprintf(actor, 24, "%" PRId64, e->actor_account);
    v[0] = e->actor_account > 0 ? actor : NULL;
    v[1] = e->actor_role;
    v[2] = e->action;
    v[3] = e->subject != NULL ? e->subject : "";
    v[4] = e->detail_json != NULL ? e->detail_json : "{}";
    v[5] = e->client_ip;
    return 0;
}

int audit_tx_add(struct pg_tx *tx, const struct audit_event *e)
{
    char actor[24];
    const char *v[6];
    int rc = params(e, actor, v);
    if (rc != 0)
        return rc;
    return pg_tx_add(tx, append_sql, 6, v);
}

int audit_record(struct pg_pool *pool, const struct audit_event *e, pg_cb cb, void *ctx)
{
    char actor[24];
    const char *v[6];
    int rc = params(e, actor, v);
    if (rc != 0)
        return rc;
    return pg_query(pool, append_sql, 6, v, cb, ctx);
}
