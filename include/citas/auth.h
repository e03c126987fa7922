/*
 * auth: accounts, password hashing, email one-time codes, sessions, CSRF and staff roles.
 *
 * Accounts live in PostgreSQL (table accounts, sql/003_accounts.sql). Passwords are Argon2id strings
 * (libsodium crypto_pwhash_str), computed on a small process-wide pool of hashing threads, never on a
 * worker's event loop; results come back to the requesting worker's loop through an eventfd.
 *
 * Login is two steps: POST /api/v1/sessions checks the password and mails a one-time code bound to a
 * login attempt (Redis, TTL auth_code_ttl_s); POST /api/v1/sessions/code exchanges it for a session.
 * Codes are 6 digits from libsodium's CSRNG, stored as HMAC-SHA256 under a per-attempt random key, single
 * use, at most auth_code_max_attempts tries, compared in constant time. Account verification codes are the
 * same, stored on the account row (they are written in the transaction that queues their email).
 *
 * Sessions live in Redis under the SHA-256 of the cookie's 256-bit random token, with an idle timeout
 * (refreshed on use) and an absolute one. Every session carries a random CSRF token, returned at login and
 * by GET /api/v1/me; state-changing requests (any method but GET/HEAD) must echo it in X-CSRF-Token.
 *
 * Decisions a caller should know:
 *  - unknown email and wrong password get the same 401 body (a dummy hash keeps the timing alike);
 *  - an unverified account with the right password gets 403 "Email not verified" and a fresh verification
 *    code by email (only someone who knows the password learns that the account exists);
 *  - duplicate email or document on registration: one 409 message that does not say which.
 *
 * Threads: handlers and the session helpers run on the worker that owns the request.
 */
#ifndef CITAS_AUTH_H
#define CITAS_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>

#include "citas/server.h"

/* The module (per-worker hashing mailbox, Redis scripts, configuration keys auth_*). */
extern const struct server_module auth_server_module;

enum auth_role {
    AUTH_ROLE_CITIZEN,
    AUTH_ROLE_CONSULAR_STAFF, /* bound to one office */
    AUTH_ROLE_CONSULAR_ADMIN, /* bound to one office when it has one, else every office */
    AUTH_ROLE_HELPDESK,
    AUTH_ROLE_SYSADMIN,
};
#define AUTH_ROLE_BIT(r) (1u << (r))
#define AUTH_STAFF_ROLES                                                                                     \
    (AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_STAFF) | AUTH_ROLE_BIT(AUTH_ROLE_CONSULAR_ADMIN) |                     \
     AUTH_ROLE_BIT(AUTH_ROLE_HELPDESK) | AUTH_ROLE_BIT(AUTH_ROLE_SYSADMIN))

/* "citizen", "consular_staff"...; NULL for an unknown value. */
const char *auth_role_name(enum auth_role r);
/* The role named `name`; -1 if there is none. */
int auth_role_parse(const char *name);

#define AUTH_OFFICE_MAX 32 /* office codes: [A-Za-z0-9_-]{1,32} */
/* 1 if `code` is a well-formed office code. */
int auth_office_code_valid(const char *code, size_t len);

/* A loaded session (allocated in the request's pool: valid as long as the request). */
struct auth_session {
    int64_t account_id;
    enum auth_role role;
    char office[AUTH_OFFICE_MAX + 1]; /* "" when the account has none */
    char csrf[65];                    /* 64 hex digits */
    char key[128];                    /* the Redis key (holds only the token's hash) */
};

/*
 * Called exactly once. req is NULL when the client went away meanwhile (just free your own state);
 * otherwise s is the session, or NULL when auth already answered the request (401 no or expired session,
 * 403 CSRF or role or office, 503 Redis down).
 */
typedef void (*auth_session_cb)(h2o_req_t *req, const struct auth_session *s, void *ctx);

/*
 * Loads the session named by the request's citas_session cookie and refreshes its idle timeout. For any
 * method other than GET and HEAD it also requires header X-CSRF-Token to equal the session's token.
 * cb may run before this call returns (a missing cookie or CSRF header is answered at once), so call this
 * last in a handler.
 */
void auth_load_session(h2o_req_t *req, auth_session_cb cb, void *ctx);

/*
 * As auth_load_session(), and the session's role must be in `roles` (a mask of AUTH_ROLE_BIT()s), else
 * 403. When office_code is not NULL, a consular_staff session (and a consular_admin one bound to an
 * office) must belong to that office, else 403.
 */
void auth_require(h2o_req_t *req, unsigned roles, const char *office_code, auth_session_cb cb, void *ctx);

/*
 * For server-rendered pages (GET): loads the session like auth_load_session() but never answers the
 * request, so the page can redirect to its login form or show its own message. cb runs exactly once
 * (possibly before this call returns) with status 0 and the session, 401 and NULL (no cookie, unknown or
 * expired session) or 503 and NULL (session store unavailable); req is NULL when the client went away.
 * No CSRF check: use it for safe methods only.
 */
typedef void (*auth_peek_cb)(h2o_req_t *req, const struct auth_session *s, int status, void *ctx);
void auth_peek_session(h2o_req_t *req, auth_peek_cb cb, void *ctx);

/* --- input checks, shared with citasctl --- */

enum auth_doc_type { AUTH_DOC_CURP, AUTH_DOC_PASSPORT, AUTH_DOC_CONSULAR_ID };
#define AUTH_EMAIL_MAX    254
#define AUTH_PASSWORD_MIN 10  /* characters (code points) */
#define AUTH_PASSWORD_MAX 256 /* bytes */
#define AUTH_NAME_MAX     200 /* bytes */
#define AUTH_DOC_MAX      20

/*
 * Email shape (local@domain.tld, ASCII, at most AUTH_EMAIL_MAX bytes). On success writes the lower-cased
 * address to out (AUTH_EMAIL_MAX + 1 bytes) and returns 0; else -1 with a reason (static) in *why.
 */
int auth_email_parse(const char *s, size_t len, char *out, const char **why);
/* A person's name: valid UTF-8, 1..AUTH_NAME_MAX bytes, no control characters, not only spaces. */
int auth_name_check(const char *s, size_t len, const char **why);
/* A password: valid UTF-8 without control characters, AUTH_PASSWORD_MIN characters to AUTH_PASSWORD_MAX
 * bytes. */
int auth_password_check(const char *s, size_t len, const char **why);
/* 1 if `curp` (18 upper-case characters) has CURP's structure, a real birth date and the right check
 * digit (RENAPO's algorithm), else 0. */
int auth_curp_valid(const char *curp, size_t len);
/*
 * An identity document number: upper-cases it and drops spaces and hyphens into out (AUTH_DOC_MAX + 1
 * bytes), then checks it: CURP as auth_curp_valid(); passport: a letter and 8 digits (Mexican passport
 * booklet number); consular ID (matrícula consular): 6 to 20 letters and digits. 0, or -1 with *why.
 */
int auth_document_parse(enum auth_doc_type type, const char *s, size_t len, char *out, const char **why);
/* "curp", "passport", "consular_id"; and the reverse (-1 for an unknown name). */
const char *auth_doc_type_name(enum auth_doc_type t);
int auth_doc_type_parse(const char *name);

/* Hashes a password with the module's Argon2id parameters (blocking: for citasctl and tests). out has
 * crypto_pwhash_STRBYTES (128) bytes. 0 or -1. */
int auth_password_hash_blocking(const char *password, size_t len, unsigned long long opslimit,
                                size_t memlimit, char out[128]);

/* --- HTTP handlers for citasd's route table --- */
void auth_on_register(h2o_req_t *req, const struct server_params *p);   /* POST /api/v1/accounts */
void auth_on_verify(h2o_req_t *req, const struct server_params *p);     /* POST /api/v1/accounts/verify */
void auth_on_login(h2o_req_t *req, const struct server_params *p);      /* POST /api/v1/sessions */
void auth_on_login_code(h2o_req_t *req, const struct server_params *p); /* POST /api/v1/sessions/code */
void auth_on_logout(h2o_req_t *req, const struct server_params *p);     /* DELETE /api/v1/sessions */
void auth_on_me(h2o_req_t *req, const struct server_params *p);         /* GET /api/v1/me */
/* The citizen's own data (me_data.c): GET /api/v1/me/export (everything we hold about the account, as a
 * JSON download), PATCH /api/v1/me {full_name?, lang?} (corrections; the identity document and email stay),
 * DELETE /api/v1/me (cancels the active appointments, giving their seats back, then wipes the account's
 * personal data, disables it and ends the session). */
void auth_on_me_export(h2o_req_t *req, const struct server_params *p);
void auth_on_me_update(h2o_req_t *req, const struct server_params *p);
void auth_on_me_delete(h2o_req_t *req, const struct server_params *p);
/* Staff accounts, sysadmin only (staff_admin.c): GET /api/v1/admin/staff?office=&role=, POST
 * /api/v1/admin/staff {email, name, role, office?, password}, PATCH /api/v1/admin/staff/{id} {role?, office?,
 * disabled?, password?, name?}. Changing role, office, password or disabled ends the account's live sessions
 * and pending logins. */
void auth_on_admin_staff_list(h2o_req_t *req, const struct server_params *p);
void auth_on_admin_staff_create(h2o_req_t *req, const struct server_params *p);
void auth_on_admin_staff_update(h2o_req_t *req, const struct server_params *p);
/* GET and POST /api/v1/admin/offices/{code}/whoami: staff of that office only (placeholder admin route). */
void auth_on_admin_whoami(h2o_req_t *req, const struct server_params *p);

#endif
