-- 008: the audit log. An append-only table (a trigger refuses UPDATE, DELETE and TRUNCATE) where every
-- record carries the SHA-256 of the previous record's hash and its own canonical text, so that changing or
-- removing a record breaks the chain from there on. Records are only added with audit_append(), which
-- serialises appenders with a transaction-scoped advisory lock; citasd periodically signs the chain head
-- (audit_heads, Ed25519) and `citasctl verify-audit` checks chain and signatures.

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_account bigint,          -- NULL: no account (system, anonymous)
    actor_role text NOT NULL,      -- citizen, consular_staff, helpdesk, sysadmin, system...
    action text NOT NULL,          -- booking.create, booking.cancel, appointment.lookup...
    subject text NOT NULL DEFAULT '',
    detail jsonb NOT NULL DEFAULT '{}',
    client_ip inet,
    prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash bytea NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_account, id);

-- Signed chain heads: `signature` is Ed25519 over the text 'citas-audit-head:<upto_id>:<hex of head_hash>'.
CREATE TABLE audit_heads (
    id bigserial PRIMARY KEY,
    upto_id bigint NOT NULL,
    head_hash bytea NOT NULL CHECK (length(head_hash) = 32),
    signature bytea NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now()
);

-- The canonical text of a record: a JSON array of its fields (time in UTC with microseconds, detail as
-- jsonb's normalised text, the address as inet text), hashed after the previous record's hash.
CREATE FUNCTION audit_row_hash(p_prev bytea, p_id bigint, p_at timestamptz, p_actor bigint, p_role text,
                               p_action text, p_subject text, p_detail jsonb, p_ip inet)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT digest(p_prev || convert_to(jsonb_build_array(
        p_id,
        to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        p_actor, p_role, p_action, p_subject, p_detail, p_ip::text)::text, 'UTF8'), 'sha256')
$$;

-- Appends one record in the caller's transaction and returns its id. The advisory lock is held until the
-- transaction ends, so records chain in commit order; READ COMMITTED (the default) is required so that
-- the previous record read after waiting for the lock is the last committed one.
CREATE FUNCTION audit_append(p_actor bigint, p_role text, p_action text, p_subject text, p_detail jsonb,
                             p_ip inet)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_prev bytea;
    v_id bigint;
    v_at timestamptz;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit_append needs READ COMMITTED isolation';
    END IF;
    PERFORM pg_advisory_xact_lock(7365871091250917729); -- 'audit', fixed key
    SELECT hash INTO v_prev FROM audit_log ORDER BY id DESC LIMIT 1;
    IF v_prev IS NULL THEN
        v_prev := decode(repeat('00', 32), 'hex');
    END IF;
    v_id := nextval(pg_get_serial_sequence('audit_log', 'id'));
    v_at := clock_timestamp();
    p_subject := coalesce(p_subject, '');
    p_detail := coalesce(p_detail, '{}'::jsonb);
    INSERT INTO audit_log (id, at, actor_account, actor_role, action, subject, detail, client_ip, prev_hash, hash)
    VALUES (v_id, v_at, p_actor, p_role, p_action, p_subject, p_detail, p_ip, v_prev,
            audit_row_hash(v_prev, v_id, v_at, p_actor, p_role, p_action, p_subject, p_detail, p_ip));
    RETURN v_id;
END
$$;

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_heads_append_only BEFORE UPDATE OR DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
