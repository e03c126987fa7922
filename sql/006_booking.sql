-- 006: appointments and the record of booking actions.
-- Redis hands out seats; these two partial unique indexes are the real guarantees: no seat of a slot is
-- held by two live appointments (no overbooking even if Redis is wrong), and one identity document holds
-- at most one active appointment per procedure, across every office.
CREATE TABLE appointments (
    id bigserial PRIMARY KEY,
    -- 10 characters of an alphabet without 0/O/1/I, from a CSPRNG (50 bits)
    code text NOT NULL UNIQUE CHECK (code ~ '^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{10}$'),
    slot_id bigint NOT NULL REFERENCES slots (id),
    seat integer NOT NULL CHECK (seat > 0),
    office_code text NOT NULL REFERENCES offices (code),
    procedure_code text NOT NULL REFERENCES procedures (code),
    account_id bigint NOT NULL REFERENCES accounts (id),
    document_type text NOT NULL CHECK (length(document_type) BETWEEN 1 AND 20),
    document_number text NOT NULL CHECK (length(document_number) BETWEEN 1 AND 20),
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'cancelled', 'checked_in', 'no_show')),
    created_at timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz,
    cancel_reason text CHECK (cancel_reason IN ('citizen', 'rescheduled', 'staff', 'day_cancelled')),
    attended_at timestamptz,          -- check-in or no-show, by staff
    rescheduled_from bigint REFERENCES appointments (id),
    CHECK ((state = 'cancelled') = (cancelled_at IS NOT NULL))
);

CREATE UNIQUE INDEX appointments_seat_taken ON appointments (slot_id, seat)
    WHERE state IN ('active', 'checked_in');
CREATE UNIQUE INDEX appointments_one_per_person ON appointments (document_type, document_number, procedure_code)
    WHERE state = 'active';
CREATE INDEX appointments_account ON appointments (account_id, created_at);
CREATE INDEX appointments_slot ON appointments (slot_id) WHERE state IN ('active', 'checked_in');

-- Append-only record of booking actions (who, what, when, from where) until the audit module takes over.
CREATE TABLE booking_events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    appointment_id bigint NOT NULL REFERENCES appointments (id),
    action text NOT NULL CHECK (action IN ('booked', 'cancelled', 'rescheduled', 'checked_in', 'no_show')),
    account_id bigint REFERENCES accounts (id), -- who acted (the citizen or a staff member)
    client_ip inet,
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX booking_events_appointment ON booking_events (appointment_id);

CREATE FUNCTION booking_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'booking_events is append-only';
END
$$;
CREATE TRIGGER booking_events_no_change BEFORE UPDATE OR DELETE ON booking_events
    FOR EACH ROW EXECUTE FUNCTION booking_events_append_only();
