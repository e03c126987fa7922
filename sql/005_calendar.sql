-- 005: calendar windows and their slots (see the booking data contract).
-- A window offers one procedure of one office over a range of days; its slots are generated here, in SQL,
-- from the office's wall-clock hours in its IANA time zone, so daylight-saving changes are PostgreSQL's
-- job: a local time that does not exist (spring forward) is skipped, a repeated one (fall back) is
-- generated once. Slots of a window become bookable at release_at (the booking script compares Redis
-- TIME with it). Closing a window keeps its slots ('open' here, "closed" in Redis through the window's
-- state); cancelling a day cancels its slots.
CREATE TABLE calendar_windows (
    id bigserial PRIMARY KEY,
    office_code text NOT NULL REFERENCES offices (code),
    procedure_code text NOT NULL REFERENCES procedures (code),
    first_day date NOT NULL,
    last_day date NOT NULL,
    slot_minutes integer NOT NULL CHECK (slot_minutes BETWEEN 5 AND 240),
    seats_per_slot integer NOT NULL CHECK (seats_per_slot BETWEEN 1 AND 100),
    excluded_days date[] NOT NULL DEFAULT '{}',
    release_at timestamptz NOT NULL,
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    created_by bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (last_day >= first_day AND last_day - first_day < 366)
);
CREATE INDEX calendar_windows_office ON calendar_windows (office_code, procedure_code, first_day);

CREATE TABLE slots (
    id bigserial PRIMARY KEY,
    window_id bigint NOT NULL REFERENCES calendar_windows (id),
    office_code text NOT NULL REFERENCES offices (code),
    procedure_code text NOT NULL REFERENCES procedures (code),
    starts_at timestamptz NOT NULL,
    local_start timestamp NOT NULL, -- the office's wall-clock time of starts_at
    capacity integer NOT NULL CHECK (capacity > 0),
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'cancelled'))
);
CREATE INDEX slots_window ON slots (window_id, starts_at);
CREATE INDEX slots_office_local ON slots (office_code, local_start);

-- t as ISO 8601 in zone tz with its numeric offset: '2027-03-14T08:00:00-07:00'.
CREATE FUNCTION calendar_iso(t timestamptz, tz text) RETURNS text LANGUAGE sql STABLE STRICT AS $$
    SELECT to_char(t AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN s < 0 THEN '-' ELSE '+' END
           || lpad((abs(s) / 3600)::text, 2, '0') || ':' || lpad((abs(s) % 3600 / 60)::text, 2, '0')
    FROM (SELECT extract(epoch FROM (t AT TIME ZONE tz) - (t AT TIME ZONE 'UTC'))::integer AS s) AS o
$$;

-- The slots a window would have: every slot_minutes step inside each office_hours interval of every day
-- of [first, last], except holidays and excluded days, whose whole length fits before closing time; local
-- times that do not exist in the office's zone are skipped (the round trip through UTC changes them).
CREATE FUNCTION calendar_generate_slots(p_office text, p_first date, p_last date, p_minutes integer,
                                        p_excluded date[])
RETURNS TABLE (starts_at timestamptz, local_start timestamp) LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (t.l) t.l AT TIME ZONE o.time_zone, t.l
    FROM offices o
    CROSS JOIN LATERAL generate_series(p_first::timestamp, p_last::timestamp, interval '1 day') AS d (day)
    JOIN office_hours h ON h.office_code = o.code AND h.weekday = extract(isodow FROM d.day)::integer
    CROSS JOIN LATERAL generate_series(d.day + h.opens, d.day + h.closes - make_interval(mins => p_minutes),
                                       make_interval(mins => p_minutes)) AS t (l)
    WHERE o.code = p_office
      AND NOT (d.day::date = ANY (coalesce(p_excluded, '{}')))
      AND NOT EXISTS (SELECT 1 FROM office_holidays x WHERE x.office_code = o.code AND x.day = d.day::date)
      AND (t.l AT TIME ZONE o.time_zone) AT TIME ZONE o.time_zone = t.l
    ORDER BY t.l
$$;

-- Checks a window request against the reference data; raises SQLSTATE CA404 (unknown office), CA422
-- (procedure not offered, first day already past in the office's zone) with a message for the client.
-- Returns the office's time zone.
CREATE FUNCTION calendar_check_window(p_office text, p_procedure text, p_first date) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tz text;
BEGIN
    SELECT time_zone INTO tz FROM offices WHERE code = p_office AND active;
    IF tz IS NULL THEN
        RAISE EXCEPTION 'There is no office %.', p_office USING ERRCODE = 'CA404';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM office_procedures WHERE office_code = p_office AND procedure_code = p_procedure) THEN
        RAISE EXCEPTION 'Office % does not offer procedure %.', p_office, p_procedure USING ERRCODE = 'CA422';
    END IF;
    IF p_first < (now() AT TIME ZONE tz)::date THEN
        RAISE EXCEPTION 'The first day has already passed in the office''s time zone.' USING ERRCODE = 'CA422';
    END IF;
    RETURN tz;
END
$$;

-- Opens a window and generates its slots, serialised per office and procedure; an open window of the
-- same procedure overlapping the days is SQLSTATE CA409, a window without any slot CA422. Returns the
-- window's id and slot count.
CREATE FUNCTION calendar_open_window(p_office text, p_procedure text, p_first date, p_last date,
                                     p_minutes integer, p_seats integer, p_excluded date[],
                                     p_release timestamptz, p_by bigint, OUT window_id bigint, OUT nslots bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM calendar_check_window(p_office, p_procedure, p_first);
    PERFORM pg_advisory_xact_lock(hashtextextended('calendar:' || p_office || ':' || p_procedure, 0));
    IF EXISTS (SELECT 1 FROM calendar_windows w
               WHERE w.office_code = p_office AND w.procedure_code = p_procedure AND w.state = 'open'
                 AND daterange(w.first_day, w.last_day, '[]') && daterange(p_first, p_last, '[]')) THEN
        RAISE EXCEPTION 'An open window of % already covers some of these days.', p_procedure
            USING ERRCODE = 'CA409';
    END IF;
    INSERT INTO calendar_windows (office_code, procedure_code, first_day, last_day, slot_minutes, seats_per_slot,
                                  excluded_days, release_at, created_by)
    VALUES (p_office, p_procedure, p_first, p_last, p_minutes, p_seats, coalesce(p_excluded, '{}'), p_release, p_by)
    RETURNING id INTO window_id;
    INSERT INTO slots (window_id, office_code, procedure_code, starts_at, local_start, capacity)
    SELECT window_id, p_office, p_procedure, g.starts_at, g.local_start, p_seats
    FROM calendar_generate_slots(p_office, p_first, p_last, p_minutes, p_excluded) AS g;
    GET DIAGNOSTICS nslots = ROW_COUNT;
    IF nslots = 0 THEN
        RAISE EXCEPTION 'These days have no office hours left for slots of % minutes.', p_minutes
            USING ERRCODE = 'CA422';
    END IF;
END
$$;

-- Cancelling a day re-reads the day's active appointments inside its transaction and compares them with
-- the ones it is about to email: a booking that slipped in between makes the transaction fail (CA40R,
-- the caller retries) rather than go un-notified.
CREATE FUNCTION calendar_same_ids(got bigint[], expected bigint[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM unnest(got) x)
       IS DISTINCT FROM (SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM unnest(expected) x) THEN
        RAISE EXCEPTION 'the day''s appointments changed meanwhile' USING ERRCODE = 'CA40R';
    END IF;
    RETURN true;
END
$$;
