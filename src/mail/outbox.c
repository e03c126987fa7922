/*
 * Queueing: check a message and INSERT it into mail_outbox, in the caller's transaction or on its own. The
 * row holds the template's parameters (a JSON object); the sender renders them (sender.c). A rendered
 * message is several kilobytes that PostgreSQL compresses, and the claim and the 'sent' mark copied it
 * twice more; the parameters are a few hundred bytes, so queueing a release's confirmations costs the
 * booking transactions much less.
 */
#include "citas/mail.h"
#include "citas/hex.h"
#include "citas/json.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char insert_sql[] = "INSERT INTO mail_outbox (to_addr, lang, kind, params, attachment_name, "
                                 "attachment_type, attachment_data) "
                                 "VALUES ($1, $2, $3, $4::json, $5, $6, decode($7, 'hex'))";

#define NCOLS 7

static int printable_ascii(const char *s, size_t max, const char *forbidden)
{
    size_t len = strlen(s);
    if (len == 0 || len > max)
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || strchr(forbidden, *p) != NULL)
            return 0;
    return 1;
}

/* The INSERT's parameters: the message checked, its template parameters as one JSON object (rendered
 * when sent), the attachment in hex. Owns the pool its strings live in. */
struct row {
    h2o_mem_pool_t pool;
    const char *values[NCOLS];
};

static int row_build(const struct mail_message *m, struct row *row)
{
    h2o_mem_init_pool(&row->pool);
    if (m == NULL || m->to == NULL || !mail_addr_ok(m->to) || mail_kind_name(m->kind) == NULL)
        return -EINVAL;
    const struct mail_attachment *a = m->attachment;
    if (a != NULL && (a->name == NULL || a->content_type == NULL || (a->data == NULL && a->len > 0) ||
                      a->len > MAIL_ATTACHMENT_MAX || !printable_ascii(a->name, 100, "\"\\/") ||
                      a->name[0] == '.' || !printable_ascii(a->content_type, 200, "\"\\")))
        return -EINVAL;
    int rc = mail_check(m->kind, m->lang, m->params, m->nparams);
    if (rc != 0)
        return rc;
    struct json_buf j;
    json_buf_init(&j, &row->pool);
    json_open_object(&j, NULL);
    for (size_t i = 0; i < m->nparams; i++) /* a key given twice: the last one counts, as in rendering */
        if (mail_param_last(m->params, m->nparams, i))
            json_add_str(&j, m->params[i].key, m->params[i].value);
    json_close_object(&j);
    char *hex = NULL;
    if (a != NULL) {
        hex = h2o_mem_alloc_pool(&row->pool, 2 * a->len + 1);
        hex_encode(hex, a->data, a->len);
    }
    const char *v[NCOLS] = {m->to,
                            m->lang,
                            mail_kind_name(m->kind),
                            json_buf_str(&j),
                            a ? a->name : NULL,
                            a ? a->content_type : NULL,
                            hex};
    memcpy(row->values, v, sizeof(v));
    return 0;
}

static void row_free(struct row *row)
{
    h2o_mem_clear_pool(&row->pool);
}

int mail_tx_add(struct pg_tx *tx, const struct mail_message *m)
{
    if (tx == NULL)
        return -EINVAL;
    struct row row;
    int rc = row_build(m, &row);
    if (rc == 0)
        rc = pg_tx_add(tx, insert_sql, NCOLS, row.values);
    row_free(&row);
    return rc;
}

static const char insert_many_sql[] =
    "INSERT INTO mail_outbox (to_addr, lang, kind, params, attachment_name, attachment_type, "
    "attachment_data) "
    "SELECT t, l, k, p::json, an, at, decode(ad, 'hex') FROM "
    "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) "
    "AS m(t, l, k, p, an, at, ad)";

void mail_batch_init(struct mail_batch *b)
{
    for (int c = 0; c < NCOLS; c++)
        pg_array_init(&b->col[c]);
    b->n = 0;
}

int mail_batch_add(struct mail_batch *b, const struct mail_message *m)
{
    struct row row;
    int rc = row_build(m, &row);
    if (rc != 0) {
        row_free(&row);
        return rc;
    }
    for (int c = 0; c < NCOLS; c++)
        pg_array_add(&b->col[c], row.values[c]);
    row_free(&row);
    b->n++;
    for (int c = 0; c < NCOLS; c++)
        if (b->col[c].oom)
            return -ENOMEM;
    return 0;
}

int mail_batch_tx_add(struct pg_tx *tx, struct mail_batch *b)
{
    if (tx == NULL)
        return -EINVAL;
    if (b->n == 0)
        return 0;
    const char *v[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        if ((v[c] = pg_array_text(&b->col[c])) == NULL)
            return -ENOMEM; /* not added: the caller must not commit without the mails */
    return pg_tx_add(tx, insert_many_sql, NCOLS, v);
}

void mail_batch_free(struct mail_batch *b)
{
    for (int c = 0; c < NCOLS; c++)
        pg_array_free(&b->col[c]);
    b->n = 0;
}

static void on_ignored(const struct pg_reply *reply, void *ctx)
{
    (void)reply;
    (void)ctx;
}

int mail_enqueue(struct pg_pool *pg, const struct mail_message *m, pg_cb cb, void *ctx)
{
    if (pg == NULL)
        return -EINVAL;
    struct row row;
    int rc = row_build(m, &row);
    if (rc == 0)
        rc = pg_query(pg, insert_sql, NCOLS, row.values, cb ? cb : on_ignored, ctx);
    row_free(&row);
    return rc;
}
