/*
 * audit: the append-only, hash-chained audit log (sql/008_audit.sql, sql/010_audit_pending.sql).
 *
 * Recording is lock-free: audit_tx_add() and audit_record() insert the record into audit_pending in the
 * caller's transaction (SQL function audit_add(); no lock, no hash), so it is durable exactly when the action
 * is. citasd's worker 0 (this module) moves pending records into audit_log every audit_chain_interval_ms, in
 * batches of audit_chain_batch, with SQL function audit_chain_pending(): under a transaction-scoped advisory
 * lock (one chainer at a time across every citasd instance) it deletes the oldest pending rows and appends
 * them with hash = sha256(prev_hash || canonical text of the record) (audit_row_hash()). At shutdown worker 0
 * chains what is left and signs the new head, with a short synchronous connection (no client is served any
 * more then). UPDATE, DELETE and TRUNCATE of audit_log are refused by triggers; pending rows can leave only
 * through audit_chain_pending() (see sql/010 for what that guard does and does not protect against). Every
 * booking_events row (booked, cancelled, rescheduled, checked_in, no_show) becomes a record through a
 * trigger, so the booking code records nothing itself.
 *
 * Worker 0 also signs the chain head every audit_sign_interval_ms with the Ed25519 key in
 * audit_signing_key (a PEM private key; empty: signing is off, said once on stderr) into audit_heads;
 * `citasctl verify-audit --public-key PEM` chains what is pending, walks the chain and checks the
 * signatures. GET /api/v1/admin/audit browses the log (sysadmin: everything; consular_admin: records whose
 * detail names their office).
 *
 * Conventions for records: action "<area>.<verb>" ("booking.cancel", "window.create", "ticket.update",
 * "appointment.lookup"), subject "<kind>:<id>" ("appointment:K7Q2M9ABCD", "window:17", "ticket:INC-..."),
 * and, when the action concerns an office, "office":"<code>" in the detail.
 *
 * SQL callers whose record depends on what their statement changed (a computed subject, or "only if a row
 * was updated") call `audit_add(actor bigint, role text, action text, subject text, detail jsonb, ip inet)`
 * in a CTE over the changed rows, in the same statement; it is what audit_tx_add() runs.
 */
#ifndef CITAS_AUDIT_H
#define CITAS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "citas/pg.h"

/* One record. Strings are copied by the calls below. */
struct audit_event {
    int64_t actor_account;   /* the acting account, 0 for none (system, anonymous) */
    const char *actor_role;  /* "citizen", "consular_staff", "helpdesk", "sysadmin", "system"...; NULL: the
                              * actor account's role in the accounts table ("system" without an account) */
    const char *action;      /* "booking.create", "booking.cancel", "appointment.lookup"...; required */
    const char *subject;     /* what was acted on ("appointment:K7Q2M9"), NULL for "" */
    const char *detail_json; /* a JSON object as text, NULL for {} */
    const char *client_ip;   /* "203.0.113.9", NULL when not known */
};

/* Adds `SELECT audit_add(...)` to a caller's transaction: the record commits or rolls back with it (it
 * reaches the chain within a chain interval). Returns 0, -EINVAL (no action, negative account) or what
 * pg_tx_add() returns. */
int audit_tx_add(struct pg_tx *tx, const struct audit_event *e);

/* Records one action in a transaction of its own (for reads, right after them). Returns what pg_query()
 * returns (-EINVAL as above); on 0 the callback runs exactly once; reply->results[0] holds the pending id. */
int audit_record(struct pg_pool *pool, const struct audit_event *e, pg_cb cb, void *ctx);

/* GET /api/v1/admin/audit?from=&to=&action=&actor=&subject=&office=&before=&limit=&format=csv: newest
 * first, keyset pagination by id (next_before), JSON or CSV; sysadmin and consular_admin only. */
struct st_h2o_req_t;
struct server_params;
void audit_on_browse(struct st_h2o_req_t *req, const struct server_params *p);

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
 * (60000), audit_chain_interval_ms (250), audit_chain_batch (500). */
struct server_module;
extern const struct server_module audit_server_module;

#endif
