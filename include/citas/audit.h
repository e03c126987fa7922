/*
 * audit: the append-only, hash-chained audit log (sql/008_audit.sql).
 *
 * Every record is added with the SQL function audit_append(), in the caller's transaction: it takes a
 * transaction-scoped advisory lock, reads the previous record's hash and stores
 * hash = sha256(prev_hash || canonical text of the record) (audit_row_hash()). UPDATE, DELETE and TRUNCATE
 * are refused by triggers. citasd's worker 0 signs the chain head every audit_sign_interval_ms with the
 * Ed25519 key in audit_signing_key (a PEM private key; empty: signing is off, said once on stderr) into
 * audit_heads; `citasctl verify-audit --public-key PEM` walks the chain and checks the signatures.
 */
#ifndef CITAS_AUDIT_H
#define CITAS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "citas/pg.h"

/* One record. Strings are copied by the calls below. */
struct audit_event {
    int64_t actor_account;   /* the acting account, 0 for none (system, anonymous) */
    const char *actor_role;  /* "citizen", "consular_staff", "helpdesk", "sysadmin", "system"...; required */
    const char *action;      /* "booking.create", "booking.cancel", "appointment.lookup"...; required */
    const char *subject;     /* what was acted on ("appointment:K7Q2M9"), NULL for "" */
    const char *detail_json; /* a JSON object as text, NULL for {} */
    const char *client_ip;   /* "203.0.113.9", NULL when not known */
};

/* Adds `SELECT audit_append(...)` to a caller's transaction: the record commits or rolls back with it.
 * Returns 0, -EINVAL (no role or action) or what pg_tx_add() returns. */
int audit_tx_add(struct pg_tx *tx, const struct audit_event *e);

/* Appends one record in a transaction of its own. Returns what pg_query() returns (-EINVAL as above);
 * on 0 the callback runs exactly once; reply->results[0] holds the new id. */
int audit_record(struct pg_pool *pool, const struct audit_event *e, pg_cb cb, void *ctx);

/* --- signing (shared by citasd and citasctl) --- */

#define AUDIT_HASH_LEN 32
#define AUDIT_SIG_LEN  64
/* The signed message: "citas-audit-head:<upto_id>:<64 lower-case hex digits>". Returns its length, or -1
 * if cap is too small. */
int audit_head_message(int64_t upto_id, const unsigned char hash[AUDIT_HASH_LEN], char *out, size_t cap);
/* Ed25519 over the head message with a key loaded by audit_load_private_key() (an EVP_PKEY *). 0 or -1. */
int audit_sign_head(void *pkey, int64_t upto_id, const unsigned char hash[AUDIT_HASH_LEN],
                    unsigned char sig[AUDIT_SIG_LEN]);
/* 1 if `sig` is a valid signature of the head by `pkey` (from audit_load_public_key()), else 0. */
int audit_verify_head(void *pkey, int64_t upto_id, const unsigned char hash[AUDIT_HASH_LEN],
                      const unsigned char *sig, size_t siglen);
/* Reads a PEM Ed25519 key; NULL if the file cannot be read or is not an Ed25519 key. Free with
 * audit_free_key(). */
void *audit_load_private_key(const char *path);
void *audit_load_public_key(const char *path);
void audit_free_key(void *pkey);

/* Decodes PostgreSQL's text form of a bytea ("\x0a1b...") into out; returns the byte count or -1. */
int audit_bytea_decode(const char *text, unsigned char *out, size_t cap);

/* The citasd module: keys audit_signing_key (""), audit_public_key (""; for tools), audit_sign_interval_ms
 * (60000). */
struct server_module;
extern const struct server_module audit_server_module;

#endif
