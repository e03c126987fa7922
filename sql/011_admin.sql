-- 011: helpers for the staff and sysadmin admin API (office settings, offices, staff accounts, staff
-- cancellation). Every admin write is one transaction of several statements (the change, its audit record,
-- maybe an email); a statement that finds nothing to change raises instead of matching zero rows, so the
-- whole transaction rolls back and no audit record or email is left for a change that did not happen.
-- SQLSTATEs CA404, CA409 and CA422 carry a message meant for the client (as in 005_calendar).

-- Raises `p_state` with `p_message` unless p_ok. Returns true, so it can close a SELECT.
CREATE FUNCTION admin_require(p_ok boolean, p_state text, p_message text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_ok IS NOT TRUE THEN
        RAISE EXCEPTION '%', p_message USING ERRCODE = p_state;
    END IF;
    RETURN true;
END
$$;

-- The procedures an office offers become exactly p_codes. Unknown procedures are CA422; dropping one that
-- still has an open window with days to come is CA409 (close the window first: its slots stay bookable
-- otherwise). Returns the number of procedures offered.
CREATE FUNCTION admin_set_office_procedures(p_office text, p_codes text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    unknown text;
    busy text;
    n integer;
BEGIN
    PERFORM 1 FROM offices WHERE code = p_office FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'There is no office %.', p_office USING ERRCODE = 'CA404';
    END IF;
    SELECT string_agg(c, ', ' ORDER BY c) INTO unknown
    FROM unnest(p_codes) AS c WHERE NOT EXISTS (SELECT 1 FROM procedures p WHERE p.code = c);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'procedures: unknown procedure(s) %.', unknown USING ERRCODE = 'CA422';
    END IF;
    SELECT string_agg(DISTINCT w.procedure_code, ', ') INTO busy
    FROM calendar_windows w JOIN offices o ON o.code = w.office_code
    WHERE w.office_code = p_office AND w.state = 'open' AND NOT (w.procedure_code = ANY (p_codes))
      AND w.last_day >= (now() AT TIME ZONE o.time_zone)::date;
    IF busy IS NOT NULL THEN
        RAISE EXCEPTION 'procedures: % still has an open calendar window; close it first.', busy
            USING ERRCODE = 'CA409';
    END IF;
    DELETE FROM office_procedures WHERE office_code = p_office AND NOT (procedure_code = ANY (p_codes));
    INSERT INTO office_procedures (office_code, procedure_code)
    SELECT p_office, c FROM unnest(p_codes) AS c ON CONFLICT DO NOTHING;
    SELECT count(*) INTO n FROM office_procedures WHERE office_code = p_office;
    RETURN n;
END
$$;

-- An office's working hours become exactly the given intervals (validated by the server: weekday 1..7,
-- opens < closes, no overlaps; the table's checks hold anyway). Slots of windows already opened keep the
-- hours they were generated with.
CREATE FUNCTION admin_set_office_hours(p_office text, p_weekdays smallint[], p_opens time[], p_closes time[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM 1 FROM offices WHERE code = p_office FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'There is no office %.', p_office USING ERRCODE = 'CA404';
    END IF;
    DELETE FROM office_hours WHERE office_code = p_office;
    INSERT INTO office_hours (office_code, weekday, opens, closes)
    SELECT p_office, w, o, c FROM unnest(p_weekdays, p_opens, p_closes) AS x (w, o, c);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
