-- A new appointment needs an open slot of an open window, checked in the inserting transaction itself.
-- Redis refuses bookings on closed windows and cancelled days first; this makes PostgreSQL refuse them too,
-- including the race where a seat was held just before staff cancelled the day and committed just after:
-- the FOR SHARE locks order the booking against the UPDATE of the slot (cancel a day) or of the window
-- (close it), so one of them sees the other.
CREATE FUNCTION appointments_check_slot_open() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s_state text;
    w_state text;
BEGIN
    SELECT s.state INTO s_state FROM slots s WHERE s.id = NEW.slot_id FOR SHARE;
    SELECT w.state INTO w_state FROM calendar_windows w JOIN slots s ON s.window_id = w.id
     WHERE s.id = NEW.slot_id FOR SHARE OF w;
    IF s_state IS DISTINCT FROM 'open' OR w_state IS DISTINCT FROM 'open' THEN
        RAISE EXCEPTION 'slot % is not open for booking', NEW.slot_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointments_slot_open';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER appointments_slot_open
    BEFORE INSERT ON appointments
    FOR EACH ROW EXECUTE FUNCTION appointments_check_slot_open();
