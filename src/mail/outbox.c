/* Queueing: render a message and INSERT it into mail_outbox, in the caller's transaction or on its own. */
#include "citas/mail.h"
#include "citas/hex.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char insert_sql[] =
    "INSERT INTO mail_outbox (to_addr, lang, kind, subject, body_text, body_html, attachment_name, "
    "attachment_type, attachment_data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, decode($9, 'hex'))";

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

/* The INSERT's nine parameters; owns the strings it allocates. */
struct row {
    struct mail_rendered r;
    char *hex;
    const char *values[9];
};

static int row_build(const struct mail_message *m, struct row *row)
{
    *row = (struct row){0};
    if (m == NULL || m->to == NULL || !mail_addr_ok(m->to) || mail_kind_name(m->kind) == NULL)
        return -EINVAL;
    const struct mail_attachment *a = m->attachment;
    if (a != NULL && (a->name == NULL || a->content_type == NULL || (a->data == NULL && a->len > 0) ||
                      a->len > MAIL_ATTACHMENT_MAX || !printable_ascii(a->name, 100, "\"\\/") ||
                      a->name[0] == '.' || !printable_ascii(a->content_type, 200, "\"\\")))
        return -EINVAL;
    int rc = mail_render(m->kind, m->lang, m->params, m->nparams, &row->r);
    if (rc != 0)
        return rc;
    if (a != NULL) {
        row->hex = malloc(2 * a->len + 1);
        if (row->hex == NULL) {
            mail_rendered_free(&row->r);
            return -ENOMEM;
        }
        hex_encode(row->hex, a->data, a->len);
    }
    const char *v[9] = {m->to,       m->lang,     mail_kind_name(m->kind), row->r.subject,
                        row->r.text, row->r.html, a ? a->name : NULL,      a ? a->content_type : NULL,
                        row->hex};
    memcpy(row->values, v, sizeof(v));
    return 0;
}

static void row_free(struct row *row)
{
    mail_rendered_free(&row->r);
    free(row->hex);
}

int mail_tx_add(struct pg_tx *tx, const struct mail_message *m)
{
    if (tx == NULL)
        return -EINVAL;
    struct row row;
    int rc = row_build(m, &row);
    if (rc != 0)
        return rc;
    rc = pg_tx_add(tx, insert_sql, 9, row.values);
    row_free(&row);
    return rc;
}

static const char insert_many_sql[] =
    "INSERT INTO mail_outbox (to_addr, lang, kind, subject, body_text, body_html, attachment_name, "
    "attachment_type, attachment_data) SELECT t, l, k, s, bt, bh, an, at, decode(ad, 'hex') FROM "
    "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
    "$9::text[]) AS m(t, l, k, s, bt, bh, an, at, ad)";

void mail_batch_init(struct mail_batch *b)
{
    for (int c = 0; c < 9; c++)
        pg_array_init(&b->col[c]);
    b->n = 0;
}

int mail_batch_add(struct mail_batch *b, const struct mail_message *m)
{
    struct row row;
    int rc = row_build(m, &row);
    if (rc != 0)
        return rc;
    for (int c = 0; c < 9; c++)
        pg_array_add(&b->col[c], row.values[c]);
    row_free(&row);
    b->n++;
    for (int c = 0; c < 9; c++)
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
    const char *v[9];
    for (int c = 0; c < 9; c++)
        if ((v[c] = pg_array_text(&b->col[c])) == NULL)
            return -ENOMEM; /* not added: the caller must not commit without the mails */
    return pg_tx_add(tx, insert_many_sql, 9, v);
}

void mail_batch_free(struct mail_batch *b)
{
    for (int c = 0; c < 9; c++)
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
    if (rc != 0)
        return rc;
    rc = pg_query(pg, insert_sql, 9, row.values, cb ? cb : on_ignored, ctx);
    row_free(&row);
    return rc;
}
