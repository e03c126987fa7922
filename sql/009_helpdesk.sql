-- helpdesk: incident tickets filed by the consular help desk, their notes history, the per-year number
-- counter, and the record of every look-up of a citizen's appointments by help-desk staff.

CREATE TABLE ticket_counters (
    year integer PRIMARY KEY CHECK (year BETWEEN 2000 AND 9999),
    last integer NOT NULL CHECK (last BETWEEN 1 AND 999999)
);

CREATE TABLE tickets (
    id bigserial PRIMARY KEY,
    number text NOT NULL UNIQUE CHECK (number ~ '^INC-[0-9]{4}-[0-9]{6}$'),
    state text NOT NULL DEFAULT 'abierto' CHECK (state IN ('abierto', 'en_proceso', 'resuelto', 'cerrado')),
    concept text NOT NULL
        CHECK (concept IN ('sin_codigo', 'sin_citas', 'error_portal', 'datos_incorrectos', 'cancelacion', 'otro')),
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 4000),
    citizen_email text CHECK (length(citizen_email) BETWEEN 3 AND 254),
    appointment_code text CHECK (appointment_code ~ '^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{10}$'),
    office_code text REFERENCES offices (code),
    assignee_id bigint REFERENCES accounts (id),
    created_by bigint NOT NULL REFERENCES accounts (id),
    opened_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz,
    CHECK ((state = 'cerrado') = (closed_at IS NOT NULL))
);
CREATE INDEX tickets_opened ON tickets (opened_at);
CREATE INDEX tickets_state ON tickets (state);

-- Notes history: free notes by staff and the record of every state change or reassignment.
CREATE TABLE ticket_notes (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    author_id bigint NOT NULL REFERENCES accounts (id),
    at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL DEFAULT 'note' CHECK (kind IN ('note', 'change')),
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000)
);
CREATE INDEX ticket_notes_ticket ON ticket_notes (ticket_id, id);

-- Every look-up of a citizen's appointments by the help desk (who, whose, when, from where).
CREATE TABLE helpdesk_lookups (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    account_id bigint NOT NULL REFERENCES accounts (id),
    subject_email text NOT NULL,
    client_ip inet
);

CREATE FUNCTION helpdesk_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER ticket_notes_no_change BEFORE UPDATE OR DELETE ON ticket_notes
    FOR EACH ROW EXECUTE FUNCTION helpdesk_append_only();
CREATE TRIGGER helpdesk_lookups_no_change BEFORE UPDATE OR DELETE ON helpdesk_lookups
    FOR EACH ROW EXECUTE FUNCTION helpdesk_append_only();
