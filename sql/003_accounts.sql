-- 003: accounts of citizens and staff. Emails are stored lower-cased (the server normalises them), document
-- numbers upper-cased without separators, so uniqueness holds however a person types them. Passwords are
-- Argon2id strings from libsodium. A new citizen's verification code lives on its row as an HMAC-SHA256
-- under a random per-code key (verify_salt), written in the same transaction as the email that carries it.
-- Offices are not a table yet: staff rows keep the office code as text.
CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    email text NOT NULL UNIQUE CHECK (length(email) BETWEEN 6 AND 254 AND email = lower(email)),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    full_name text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    doc_type text CHECK (doc_type IN ('curp', 'passport', 'consular_id')),
    doc_number text CHECK (doc_number ~ '^[A-Z0-9]{6,20}$'),
    lang text NOT NULL DEFAULT 'es' CHECK (lang IN ('es', 'en')),
    role text NOT NULL DEFAULT 'citizen'
        CHECK (role IN ('citizen', 'consular_staff', 'consular_admin', 'helpdesk', 'sysadmin')),
    office_code text CHECK (office_code ~ '^[A-Za-z0-9_-]{1,32}$'),
    verified_at timestamptz,
    disabled boolean NOT NULL DEFAULT false,
    verify_salt text,
    verify_mac text,
    verify_attempts integer NOT NULL DEFAULT 0 CHECK (verify_attempts >= 0),
    verify_expires_at timestamptz,
    CHECK ((doc_type IS NULL) = (doc_number IS NULL)),
    -- citizens are identified by a document; staff may have none
    CHECK (role <> 'citizen' OR doc_type IS NOT NULL),
    CHECK (role <> 'consular_staff' OR office_code IS NOT NULL),
    CHECK (role IN ('consular_staff', 'consular_admin') OR office_code IS NULL),
    CHECK ((verify_salt IS NULL) = (verify_mac IS NULL))
);

-- one account per identity document (the rule "one active appointment per person" relies on it)
CREATE UNIQUE INDEX accounts_document ON accounts (doc_type, doc_number) WHERE doc_type IS NOT NULL;
