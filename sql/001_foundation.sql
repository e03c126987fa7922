-- 001: foundation. pgcrypto (digest() for the audit hash chain, gen_random_bytes() for tokens; a trusted
-- extension since PostgreSQL 13, so the database owner may create it) and a small key/value table for
-- instance-wide settings that must survive restarts (e.g. the instance id, feature switches).
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE settings (
    key text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_.]{0,62}$'),
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO settings (key, value) VALUES ('instance.id', encode(gen_random_bytes(16), 'hex'));
