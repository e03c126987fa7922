-- 013: the checks and the audit records of new appointments run once per statement, not once per row.
-- A release's bookings are committed in groups (one INSERT of up to booking_group_max appointments and their
-- booking events); the row triggers of 007 and 010 ran three queries for every booking of a group. These
-- statement triggers run them once over the statement's rows (transition tables). A one-row insert (a
-- cancel, a reschedule, staff actions) pays a little more for the transition table; a group much less.
-- Behaviour is unchanged: the same locks, the same refusal (check_violation, constraint
-- appointments_slot_open), one audit record per booking event in event order.

-- 007's check: every new appointment's slot and its window are open, under FOR SHARE locks taken in id order
-- (so that the booking and a cancelled day or a closed window are ordered: one of them sees the other).
CREATE FUNCTION appointments_check_slots_open() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    wins bigint[];
    bad bigint;
BEGIN
    -- arrays, not joins to the transition table: the planner does not know its size and may scan the
    -- whole of slots or windows; "id = ANY (array)" is an index look-up
    SELECT array_agg(DISTINCT slot_id) INTO ids FROM new_appointments;
    PERFORM 1 FROM slots s WHERE s.id = ANY (ids) ORDER BY s.id FOR SHARE;
    SELECT array_agg(DISTINCT s.window_id) INTO wins FROM slots s WHERE s.id = ANY (ids);
    PERFORM 1 FROM calendar_windows w WHERE w.id = ANY (wins) ORDER BY w.id FOR SHARE;
    SELECT i INTO bad
      FROM unnest(ids) AS i
     WHERE NOT EXISTS (SELECT 1 FROM slots s JOIN calendar_windows w ON w.id = s.window_id
                        WHERE s.id = i AND s.state = 'open' AND w.state = 'open')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'slot % is not open for booking', bad
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointments_slot_open';
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER appointments_slot_open ON appointments;
DROP FUNCTION appointments_check_slot_open();
CREATE TRIGGER appointments_slot_open
    AFTER INSERT ON appointments
    REFERENCING NEW TABLE AS new_appointments
    FOR EACH STATEMENT EXECUTE FUNCTION appointments_check_slots_open();

-- 010's audit record of every booking action (booked, cancelled, rescheduled, checked_in, no_show), whoever
-- wrote the event, in the same statement.
CREATE FUNCTION audit_booking_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- per event, look-ups by primary key (LIMIT keeps the planner from turning them into a join that scans
    -- appointments: it does not know the transition table's size)
    INSERT INTO audit_pending (actor_account, actor_role, action, subject, detail, client_ip)
    SELECT e.account_id, coalesce((SELECT c.role FROM accounts c WHERE c.id = e.account_id), 'system'),
           'booking.' || CASE e.action WHEN 'booked' THEN 'create' WHEN 'cancelled' THEN 'cancel'
                                       WHEN 'rescheduled' THEN 'reschedule' WHEN 'checked_in' THEN 'check_in'
                                       ELSE e.action END,
           'appointment:' || a.code,
           e.detail || jsonb_build_object('office', a.office_code, 'appointment', a.code,
                                          'procedure', a.procedure_code, 'slot', a.slot_id, 'seat', a.seat,
                                          'event', e.id),
           e.client_ip
      FROM new_events e
      CROSS JOIN LATERAL (SELECT x.code, x.office_code, x.procedure_code, x.slot_id, x.seat
                            FROM appointments x WHERE x.id = e.appointment_id LIMIT 1) a
     ORDER BY e.id;
    RETURN NULL;
END
$$;

DROP TRIGGER booking_events_audit ON booking_events;
DROP FUNCTION audit_booking_event();
CREATE TRIGGER booking_events_audit
    AFTER INSERT ON booking_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_booking_events();
